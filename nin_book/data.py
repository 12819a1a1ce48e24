"""The real Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017), found wherever it is and checked.

Explained in chapter 5, "Training NiN on Fashion-MNIST".
"""

from __future__ import annotations

import gzip
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nin_book.env import env_flag

__all__ = [
    "CLASS_NAMES",
    "DEBIAN_DIR",
    "ENV_VAR",
    "OFFLINE_ENV_VAR",
    "DataNotFoundError",
    "FashionMNIST",
    "find_fashion_mnist",
    "load_fashion_mnist",
    "read_idx",
]

CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
ENV_VAR = "NIN_BOOK_DATA"
# Set to a true value (1, true, yes, on; any case) to forbid downloads whatever ``download`` says: the test
# suite's conftest.py sets it, so a chapter under test fails with the message below instead of reaching the
# network. Readers (Colab included) leave it unset and keep the download.
OFFLINE_ENV_VAR = "NIN_BOOK_OFFLINE"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
EXPECTED_COUNTS = {"train": 60_000, "test": 10_000}


class DataNotFoundError(FileNotFoundError):
    """No source of Fashion-MNIST worked; the message lists the ways to get it."""


@dataclass(frozen=True)
class FashionMNIST:
    """The whole data set as uint8 images (N, 28, 28) and int64 labels (N,), plus where it came from."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: str
    class_names: tuple[str, ...] = CLASS_NAMES


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (gzip-compressed or not) into a numpy array of its stored shape.

    A damaged file (a truncated or non-gzip ``.gz``, what an interrupted download leaves) raises
    ``ValueError`` naming the file and saying to delete it and get it again.
    Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        reason = "it ends early" if isinstance(err, EOFError) else f"not valid gzip data: {err}"
        raise ValueError(f"{path} is damaged ({reason}), as an interrupted download leaves it; delete it and download "
                         "it again (or reinstall dataset-fashion-mnist)") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path} is truncated: header says {dims}, found {data.size} bytes; delete it and download it again")
    return data.reshape(dims)


def _idx_file(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def _complete(folder: Path) -> bool:
    return all(_idx_file(folder, stem) is not None for stem in FILES.values())


def find_fashion_mnist(path: str | os.PathLike | None = None, download_root: str | os.PathLike | None = None,
                       download: bool = True) -> Path:
    """Return a folder holding the four Fashion-MNIST IDX files, trying in order:

    1. ``path`` (an explicit argument), 2. the ``NIN_BOOK_DATA`` environment variable,
    3. ``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist``),
    4. torchvision's download into ``download_root`` (default ``~/.cache/nin_book``), unless
       ``NIN_BOOK_OFFLINE`` is set (as the test suite does), which forbids it.

    Folders holding torchvision's layout (``FashionMNIST/raw``) are accepted too. A source you set
    (``path`` or ``NIN_BOOK_DATA``) must hold the data: if it does not, :class:`DataNotFoundError` says
    so and names the missing files, rather than taking the data from somewhere else. Raises
    :class:`DataNotFoundError` naming every way to get the data when none works.
    Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """
    tried: list[str] = []
    for label, value in (("path argument", path), (f"${ENV_VAR}", os.environ.get(ENV_VAR)), ("Debian package", DEBIAN_DIR)):
        if not value:
            continue
        folder = Path(value).expanduser()
        for candidate in (folder, folder / "FashionMNIST" / "raw"):
            if _complete(candidate):
                return candidate
        if label != "Debian package":
            # A setting that is wrong is a mistake to report, not to paper over with data from elsewhere.
            setting = f"the path argument {folder}" if label == "path argument" else f"{ENV_VAR}={folder}"
            if not folder.is_dir():
                state = "does not exist" if not folder.exists() else "is not a folder"
            else:
                missing = [stem + ".gz" for stem in FILES.values() if _idx_file(folder, stem) is None]
                state = f"lacks {', '.join(missing)}"
            fix = "pass a folder" if label == "path argument" else f"point it at a folder (or unset {ENV_VAR})"
            raise DataNotFoundError(f"Fashion-MNIST: {setting} {state}; {fix} holding train-images-idx3-ubyte.gz, "
                                    "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz")
        tried.append(f"{label}: {folder} (no complete set of the four IDX files)")
    if download and env_flag(OFFLINE_ENV_VAR):
        tried.append(f"download: not tried, because {OFFLINE_ENV_VAR} is set (the test suite sets it)")
        download = False
    if download:
        root = Path(download_root or Path.home() / ".cache" / "nin_book").expanduser()
        try:
            from torchvision.datasets import FashionMNIST as TorchvisionFashionMNIST

            for train in (True, False):
                TorchvisionFashionMNIST(root=str(root), train=train, download=True)
            raw = root / "FashionMNIST" / "raw"
            if _complete(raw):
                return raw
            tried.append(f"torchvision download into {root}: finished without the four files")
        except Exception as err:  # network errors come in many types; all mean "no download"
            tried.append(f"torchvision download into {root}: {type(err).__name__}: {err}")
    raise DataNotFoundError(
        "Fashion-MNIST was not found. Tried:\n  - " + "\n  - ".join(tried or ["nothing"]) + "\n"
        "Get it in one of three ways:\n"
        f"  1. pass path=... (or set {ENV_VAR}) to a folder holding train-images-idx3-ubyte.gz, "
        "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz;\n"
        "  2. on Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist (files land in /usr/share/datasets/fashion-mnist);\n"
        "  3. connect to the internet and let torchvision download it (download=True)."
    )


def load_fashion_mnist(path: str | os.PathLike | None = None, download_root: str | os.PathLike | None = None,
                       download: bool = True) -> FashionMNIST:
    """Load and check the real Fashion-MNIST: 60,000 train and 10,000 test 28×28 images, labels 0–9.

    See :func:`find_fashion_mnist` for where it looks. Explained in chapter 5.
    """
    folder = find_fashion_mnist(path, download_root, download)
    arrays = {key: read_idx(_idx_file(folder, stem)) for key, stem in FILES.items()}  # type: ignore[arg-type]
    for split, count in EXPECTED_COUNTS.items():
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.shape != (count, 28, 28) or labels.shape != (count,):
            raise ValueError(f"{folder}: {split} set has images {images.shape} and labels {labels.shape}, "
                             f"expected ({count}, 28, 28) and ({count},); the files may be corrupt or not Fashion-MNIST")
        if labels.max() > 9:
            raise ValueError(f"{folder}: {split} labels go up to {labels.max()}, expected 0–9")
    return FashionMNIST(
        train_images=torch.from_numpy(arrays["train_images"].copy()),
        train_labels=torch.from_numpy(arrays["train_labels"].astype(np.int64)),
        test_images=torch.from_numpy(arrays["test_images"].copy()),
        test_labels=torch.from_numpy(arrays["test_labels"].astype(np.int64)),
        source=str(folder),
    )
