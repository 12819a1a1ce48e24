"""Finding and checking the real Fashion-MNIST, and the error when it is nowhere."""

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from nin_book import data
from nin_book.data import CLASS_NAMES, DataNotFoundError, find_fashion_mnist, load_fashion_mnist, read_idx

DEBIAN = Path("/usr/share/datasets/fashion-mnist")
needs_debian = pytest.mark.skipif(not (DEBIAN / "train-images-idx3-ubyte.gz").exists(),
                                  reason="Debian's dataset-fashion-mnist is not installed (.ci/run installs it)")


@needs_debian
def test_loads_the_real_debian_files(monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    ds = load_fashion_mnist(download=False)
    assert ds.source == str(DEBIAN)
    assert tuple(ds.train_images.shape) == (60_000, 28, 28) and tuple(ds.test_images.shape) == (10_000, 28, 28)
    assert ds.train_images.dtype.is_floating_point is False
    assert ds.train_labels.bincount().tolist() == [6_000] * 10  # Fashion-MNIST is balanced
    assert ds.test_labels[:3].tolist() == [9, 2, 1]  # the first test items: ankle boot, pullover, trouser
    assert len(CLASS_NAMES) == 10 and CLASS_NAMES[9] == "Ankle boot"


@needs_debian
def test_environment_variable_wins_over_debian(monkeypatch, tmp_path):
    for stem in data.FILES.values():
        shutil.copy(DEBIAN / f"{stem}.gz", tmp_path / f"{stem}.gz")
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    assert find_fashion_mnist(download=False) == tmp_path


def test_missing_data_names_every_way_to_get_it(monkeypatch, tmp_path):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "nowhere")
    with pytest.raises(DataNotFoundError) as err:
        find_fashion_mnist(download=False)
    message = str(err.value)
    assert "NIN_BOOK_DATA" in message and "apt-get install dataset-fashion-mnist" in message and "torchvision" in message


def test_failed_download_is_reported_not_raised_raw(monkeypatch, tmp_path):
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.delenv(data.OFFLINE_ENV_VAR, raising=False)  # a reader's machine: downloads allowed
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "nowhere")
    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", offline)
    with pytest.raises(DataNotFoundError, match="ConnectionError: no network"):
        find_fashion_mnist(download_root=tmp_path / "cache")


@pytest.mark.parametrize("value", ["1", "yes"])
def test_offline_switch_forbids_the_download_and_says_so(monkeypatch, tmp_path, value):
    import torchvision.datasets

    def must_not_download(*args, **kwargs):
        raise AssertionError("the loader tried to download although NIN_BOOK_OFFLINE is set")

    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setenv(data.OFFLINE_ENV_VAR, value)
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "nowhere")
    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", must_not_download)
    with pytest.raises(DataNotFoundError, match="download: not tried, because NIN_BOOK_OFFLINE is set"):
        load_fashion_mnist(download_root=tmp_path / "cache")  # download=True, the readers' default
    assert not (tmp_path / "cache").exists()


def test_wrong_explicit_path_is_reported(tmp_path):
    with pytest.raises(DataNotFoundError, match="path argument"):
        find_fashion_mnist(tmp_path, download=False)


def test_read_idx_round_trip_and_truncation(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    header = bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in images.shape)
    path = tmp_path / "x-idx3-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write(header + images.tobytes())
    assert np.array_equal(read_idx(path), images)
    with gzip.open(path, "wb") as f:
        f.write(header + images.tobytes()[:-1])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(path)


def test_wrong_counts_are_rejected(monkeypatch, tmp_path):
    for stem in data.FILES.values():
        n = 5
        shape = (n, 28, 28) if "images" in stem else (n,)
        header = bytes([0, 0, 8, len(shape)]) + b"".join(d.to_bytes(4, "big") for d in shape)
        with gzip.open(tmp_path / f"{stem}.gz", "wb") as f:
            f.write(header + bytes(int(np.prod(shape))))
    with pytest.raises(ValueError, match="expected \\(60000, 28, 28\\)"):
        load_fashion_mnist(tmp_path, download=False)
