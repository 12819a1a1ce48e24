"""Checkpoints that survive a crash: written to a temporary file beside the target, then renamed.

A checkpoint holds the weights, the optimiser and schedule state, the random-number state, the
history so far and the :class:`~nin_book.presets.TrainConfig`, so training can resume exactly and
chapter 6 can rebuild the network. A file in use by a training run is locked (:func:`lock_output`),
so a second run cannot overwrite it. Explained in chapter 5 (resuming) and chapter 6 (reloading).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock, Timeout
from torch import nn

from nin_book.presets import TrainConfig, build_model, config_from_dict

__all__ = [
    "CHECKPOINT_FORMAT",
    "CorruptCheckpointError",
    "InvalidCheckpointError",
    "OutputInUseError",
    "UnfinishedCheckpointWarning",
    "atomic_write_bytes",
    "check_device",
    "checkpoint_config",
    "load_checkpoint",
    "load_model",
    "load_weights",
    "lock_output",
    "output_problem",
    "remove_stale_temp_files",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = 1


class CorruptCheckpointError(ValueError):
    """The file is not a readable checkpoint (truncated, empty, another format, random bytes)."""


class InvalidCheckpointError(ValueError):
    """The file reads as a checkpoint, but its contents do not describe a network nin_book can rebuild (weights that
    do not fit its config, an unknown setting, an epoch that is not a number, a network too large to build)."""


class OutputInUseError(RuntimeError):
    """Another running process holds the lock on this output file."""


class UnfinishedCheckpointWarning(UserWarning):
    """:func:`load_model` was given a checkpoint saved before the last epoch."""


def _file_mode(path: Path) -> int:
    # mkstemp creates 0600 files; a new file should get what open() would give it (0666 minus the umask),
    # and a replaced file keeps its mode. os.umask can only be read by setting it, so set it straight back.
    with contextlib.suppress(FileNotFoundError):
        return stat.S_IMODE(path.stat().st_mode)
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def _atomic(path: Path, write: Any) -> None:
    # Through a symlink, write the file it names (as open() would), not a new file in the link's place.
    path = _real_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Same directory as the target: os.replace is atomic only within one file system.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _file_mode(path))
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # also on Ctrl-C: never leave a half-written file behind
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half of one.

    A new file gets the permissions the umask allows, as with ``open()``. Explained in chapter 5,
    "Training NiN" (checkpoints and metrics files).
    """
    _atomic(Path(path), lambda f: f.write(data))


def remove_stale_temp_files(path: str | os.PathLike) -> list[Path]:
    """Delete the ``.<name>.*.tmp`` files a killed writer left beside ``path``; returns what was removed.

    Call it only while holding :func:`lock_output` on ``path``, so no live writer's file is taken.
    Explained in chapter 5, "Training NiN on Fashion-MNIST" (checkpoints).
    """
    path = Path(path)
    # The random middle part of mkstemp's name has no dot, so "run.pt.bak"'s temporary files do not match "run.pt".
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[^.]+\.tmp")
    removed = []
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for candidate in path.parent.iterdir():
            if pattern.fullmatch(candidate.name) and candidate.is_file():
                candidate.unlink(missing_ok=True)
                removed.append(candidate)
    return removed


def _real_path(path: str | os.PathLike) -> Path:
    """``path`` with symlinks (its own and its folders') and ``..`` resolved, so one file has one name here."""
    return Path(os.path.realpath(os.path.abspath(os.fspath(path))))


# The temporary file the atomic writer puts beside a file adds this much to its name: ".", ".", 8 random
# characters (mkstemp) and ".tmp".
TEMP_NAME_OVERHEAD = 14


def _name_max(folder: Path) -> int:
    with contextlib.suppress(OSError, ValueError):
        return os.pathconf(folder, "PC_NAME_MAX")
    return 255


def output_problem(flag: str, path: str | os.PathLike) -> str | None:
    """Why the output file ``path`` cannot be written (checked before any work, so no run's results are lost), in one
    line naming ``flag`` and the cause: a folder, not a regular file, under a file, a name too long for the file
    system, or a folder that cannot be written. None if it can be. Creates nothing (a probe file is created and
    removed in the nearest existing folder). Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """
    path = Path(path)
    parent = path.parent

    def is_dir(folder: Path) -> bool:  # a name too long makes stat raise instead of answering
        try:
            return folder.is_dir()
        except OSError:
            return False

    existing = next((f for f in (parent, *parent.parents) if is_dir(f)), Path("."))
    limit = _name_max(existing)
    parts = (*parent.parts, path.name)
    for i, part in enumerate(parts):  # first: with a name too long, every other check raises
        last = i == len(parts) - 1
        size = len(os.fsencode(part)) + (TEMP_NAME_OVERHEAD if last else 0)
        if size > limit and part not in ("/", ""):
            shown = part if len(part) <= 40 else part[:37] + "..."
            extra = (f", counting the {TEMP_NAME_OVERHEAD} characters of the temporary file written beside it"
                     if last else "")
            return (f"{flag}: the name {shown} is too long ({len(os.fsencode(part))} bytes; this file system allows "
                    f"{limit}{extra}); choose a shorter name")
    try:
        if path.is_dir():
            example = path / ("run.pt" if "checkpoint" in flag else "run.json")
            return f"{flag} {path} is a directory; give a file path, e.g. {example}"
        if path.exists() and not path.is_file():
            return f"{flag} {path} is not a regular file; give the path of a file"
        for folder in (parent, *parent.parents):
            if folder.exists() and not folder.is_dir():
                return f"{flag} {path}: {folder} is a file, not a folder; choose a path inside a folder"
    except OSError as err:
        if err.errno == errno.ENAMETOOLONG:
            return f"{flag} {path}: the path is too long for the file system; choose a shorter one"
        return f"{flag} {path}: cannot be checked ({err.strerror or err}); choose another path"
    with contextlib.suppress(OSError, ValueError):
        path_max = os.pathconf(existing, "PC_PATH_MAX")
        if len(os.fsencode(os.path.abspath(path))) + TEMP_NAME_OVERHEAD >= path_max:
            return (f"{flag}: the path {str(path)[:40]}... is too long (the file system allows {path_max} bytes); "
                    "choose a shorter one")
    try:  # the only sure test: create (and remove) a file there, as the atomic write will
        fd, probe = tempfile.mkstemp(prefix=".nin_book-probe.", suffix=".tmp", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        if err.errno == errno.ENAMETOOLONG:
            return f"{flag} {path}: the name is too long for the file system; choose a shorter name"
        return (f"{flag} {path}: cannot create files in {existing}, a folder that cannot be written "
                f"({err.strerror or err}); choose a writable folder")
    return None


def _lock_paths(path: Path) -> tuple[Path, Path]:
    # Beside the real file (symlinks and ".." resolved), so that every name of the file takes the same lock. Hard
    # links are not covered: the atomic writer replaces the file with a new one on each save, so a hard link's other
    # name no longer names the file after the first save anyway.
    path = _real_path(path)
    return path.with_name(f".{path.name}.lock"), path.with_name(f".{path.name}.lock.pid")


# Locks this process holds, by lock-file path: nested lock_output calls (the CLI, then fit) reuse one lock,
# since a second flock on the same file from the same process would refuse itself.
_held: dict[str, list[Any]] = {}


@contextlib.contextmanager
def lock_output(path: str | os.PathLike, what: str = "file") -> Iterator[Path]:
    """Hold an exclusive lock on the output file ``path`` (a checkpoint or metrics file) while the block runs.

    The lock is a ``.<name>.lock`` file beside the real file (symlinks and ``..`` resolved, so every name of the file
    takes the same lock; hard links are not covered) (:mod:`filelock`), and the holder's process id is written
    to ``.<name>.lock.pid``. If another process holds it, raises :class:`OutputInUseError` naming that
    process. On first acquisition, stale temporary files of ``path`` are removed. Nested calls in one
    process are allowed. Explained in chapter 5, "Training NiN on Fashion-MNIST" (checkpoints).
    """
    path = Path(path)
    _real_path(path).parent.mkdir(parents=True, exist_ok=True)
    lock_file, pid_file = _lock_paths(path)
    key = str(lock_file.resolve())
    if key in _held:
        _held[key][1] += 1
    else:
        lock = FileLock(str(lock_file))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            try:
                holder = f"process {int(pid_file.read_text().split()[0])}"
            except (OSError, ValueError, IndexError):
                holder = "another process"
            raise OutputInUseError(
                f"{what} {path} is in use by {holder} (lock {lock_file}); wait for that run to finish or stop it, "
                "or choose another path") from None
        _held[key] = [lock, 1]
        try:
            pid_file.write_text(f"{os.getpid()}\n")
            remove_stale_temp_files(_real_path(path))
        except BaseException:
            _release(key, pid_file)
            raise
    try:
        yield path
    finally:
        _release(key, pid_file)


def _release(key: str, pid_file: Path) -> None:
    entry = _held[key]
    entry[1] -= 1
    if entry[1] == 0:
        del _held[key]
        pid_file.unlink(missing_ok=True)  # before the release, so it never deletes the next holder's pid
        entry[0].release()


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Atomically save a checkpoint dictionary (as built by :func:`nin_book.train.fit`).

    ``state`` must hold at least ``model`` (a state dict) and ``config`` (``TrainConfig.to_dict()``).
    Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """
    missing = {"model", "config"} - set(state)
    if missing:
        raise ValueError(f"a checkpoint needs the keys {sorted(missing)}")
    _atomic(Path(path), lambda f: torch.save({"format": CHECKPOINT_FORMAT, **state}, f))


def check_device(device: str | torch.device) -> torch.device:
    """``device`` as a :class:`torch.device` this machine has; otherwise ``ValueError``: "unknown device" for a
    name torch does not know (``"gpu"``), "device not available" for one this machine lacks (``"cuda"`` without
    a GPU). Explained in chapter 6, "Reading NiN's class confidence maps" (reloading a network).
    """
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"unknown device {str(device)!r}; use 'cpu', or 'cuda' on a machine with a CUDA GPU") from None
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0 or (parsed.index is not None and parsed.index >= count):
            have = f"this machine has {count} CUDA GPU{'s' if count != 1 else ''}" if count else "torch sees no CUDA GPU"
            raise ValueError(f"device not available: {parsed} was asked for, but {have}; use device='cpu'")
    elif parsed.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"device not available: {parsed} was asked for, but torch sees no Apple GPU; use device='cpu'")
    elif parsed.type != "cpu":
        raise ValueError(f"unknown device {str(device)!r} for a checkpoint; use 'cpu', or 'cuda' on a machine with a CUDA GPU")
    return parsed


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`, with clear errors for a missing or
    foreign file; a truncated, empty or garbled one raises :class:`CorruptCheckpointError`.

    ``map_location`` is checked first (:func:`check_device`): an unknown or missing device is a ``ValueError``
    saying so, never a corrupt checkpoint. Only tensors and plain data are unpickled (``weights_only=True``).
    Explained in chapter 5 (resuming) and chapter 6 (reloading).
    """
    path = Path(path)
    map_location = check_device(map_location)
    if path.is_dir():
        raise IsADirectoryError(f"checkpoint {path} is a directory; give the path of a checkpoint file")
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; train first, e.g. python -m nin_book.train --checkpoint {path} ...")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except MemoryError:
        raise
    except Exception as err:
        # torch's own message suggests weights_only=False, which would run arbitrary code from the file: never show it.
        reason = "the file is empty" if path.stat().st_size == 0 else f"torch.load failed: {type(err).__name__}"
        raise CorruptCheckpointError(
            f"checkpoint {path} is corrupt or not a checkpoint ({reason}); delete it, or train afresh over it "
            "(python -m nin_book.train --fresh ...)") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT or "model" not in state:
        raise InvalidCheckpointError(f"{path} is not a nin_book checkpoint (format {CHECKPOINT_FORMAT})")
    return state


def _invalid(path: str | os.PathLike, reason: str) -> InvalidCheckpointError:
    return InvalidCheckpointError(f"checkpoint {path} is not a valid nin_book checkpoint: {reason}; it was not written "
                                  "by nin_book.train, or was changed since: train again with python -m nin_book.train")


def _shape(value: object) -> str:
    return str(tuple(value.shape)) if isinstance(value, torch.Tensor) else f"a {type(value).__name__}"


def _first(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def load_weights(model: nn.Module, weights: object, path: str | os.PathLike) -> None:
    """Load a checkpoint's ``weights`` (a state dict) into ``model``; weights that do not fit it raise
    :class:`InvalidCheckpointError` in one line naming the first mismatches. Explained in chapter 6.
    """
    if not isinstance(weights, dict) or not all(isinstance(k, str) for k in weights):
        raise _invalid(path, f"its weights are a {type(weights).__name__}, not a state dict")
    expected = model.state_dict()
    missing = [k for k in expected if k not in weights]
    unexpected = [k for k in weights if k not in expected]
    shapes = [f"{k} {_shape(weights[k])} instead of {tuple(v.shape)}" for k, v in expected.items()
              if k in weights and (not isinstance(weights[k], torch.Tensor) or weights[k].shape != v.shape)]
    problems = [f"{label}: {_first(names)}" for label, names in
                (("missing", missing), ("unexpected", unexpected), ("wrong shape", shapes)) if names]
    if problems:
        raise _invalid(path, "its weights do not fit the network its config describes (" + "; ".join(problems) + ")")
    try:
        model.load_state_dict(weights)
    except RuntimeError as err:
        raise _invalid(path, f"its weights do not load ({str(err).splitlines()[0]})") from None


def checkpoint_config(state: dict[str, Any], path: str | os.PathLike) -> tuple[TrainConfig, int]:
    """The :class:`TrainConfig` and the epoch a checkpoint holds, checked: anything that does not describe a
    network :func:`nin_book.presets.build_model` can build raises :class:`InvalidCheckpointError`.
    Explained in chapter 6, "Reading NiN's class confidence maps".
    """
    if not isinstance(state.get("config"), dict):
        raise ValueError(f"checkpoint {path} has no training config, so the network cannot be rebuilt; "
                         "it was not written by nin_book.train: train again with python -m nin_book.train --checkpoint ...")
    try:
        config = config_from_dict(state["config"])
    except (TypeError, ValueError, AttributeError) as err:
        raise _invalid(path, f"its config does not load ({_one_line(err)})") from None
    epoch = state.get("epoch", config.epochs)
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch <= config.epochs:
        raise _invalid(path, f"its epoch is {epoch!r}, not a whole number from 0 to {config.epochs}")
    return config, epoch


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"


def _build(config: TrainConfig, path: str | os.PathLike) -> nn.Module:
    try:
        return build_model(config)
    except (TypeError, ValueError) as err:
        raise _invalid(path, f"its config does not describe a nin_book NiN ({_one_line(err)})") from None


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu", *,
               require_finished: bool = False) -> tuple[nn.Module, TrainConfig]:
    """Rebuild the trained NiN saved in a checkpoint: returns ``(model in eval mode, its config)``.

    Works for checkpoints of the presets and of any config whose ``model`` field describes a
    :func:`nin_book.models.nin`. A checkpoint saved before its last epoch (an interrupted run) gives an
    :class:`UnfinishedCheckpointWarning` naming the epoch; ``require_finished=True`` makes that a
    ``ValueError``. An unknown or missing ``device`` is a ``ValueError`` saying so; a checkpoint whose weights,
    settings or epoch do not describe a network raises :class:`InvalidCheckpointError` in one line.
    Explained in chapter 6, "Reading NiN's class confidence maps".
    """
    device = check_device(device)
    state = load_checkpoint(path)  # on the CPU; the network moves to the device once it is built
    config, epoch = checkpoint_config(state, path)
    if epoch < config.epochs:
        message = (f"checkpoint {path} is unfinished: it holds epoch {epoch} of {config.epochs}; finish it by running "
                   f"the same training again with --checkpoint {path} (it resumes)")
        if require_finished:
            raise ValueError(message)
        warnings.warn(message, UnfinishedCheckpointWarning, stacklevel=2)
    model = _build(config, path)
    load_weights(model, state["model"], path)
    return model.to(device).eval(), config
