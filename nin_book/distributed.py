"""Data-parallel training over several processes: ``torchrun`` starts one process per GPU (or several on a CPU),
each trains a replica of the network on its shard of every global batch, and DistributedDataParallel averages
their gradients, so that every replica takes the step one process would take on the whole batch.

``torchrun --standalone --nproc-per-node=N -m nin_book.train ...`` is all it takes; without ``torchrun`` nothing
here runs. Explained in the appendix, "Training on several GPUs".
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from nin_book.batches import DeviceBatches, prepare_images

__all__ = [
    "DataParallel",
    "Launch",
    "ShardedBatches",
    "batch_problem",
    "current",
    "is_peer_failure",
    "launch_problem",
    "say",
    "start",
    "stop",
    "sync_batch_norm",
]


@dataclass(frozen=True)
class Launch:
    """What the launcher (``torchrun``) told this process: its rank among all processes, their number, and the
    same two counted on this machine only. Explained in the appendix, "Training on several GPUs"."""

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int

    @classmethod
    def from_env(cls) -> Launch | None:
        """The launch read from torchrun's environment variables, or None when the process was not started by a
        launcher (no ``WORLD_SIZE`` and ``RANK``): then training is the single-process one."""
        if "WORLD_SIZE" not in os.environ or "RANK" not in os.environ:
            return None
        world = int(os.environ["WORLD_SIZE"])
        return cls(rank=int(os.environ["RANK"]), world_size=world,
                   local_rank=int(os.environ.get("LOCAL_RANK", os.environ["RANK"])),
                   local_world_size=int(os.environ.get("LOCAL_WORLD_SIZE", world)))


def launch_problem(launch: Launch, device: torch.device, batch_size: int) -> str | None:
    """Why this launch cannot train, in one line naming the fix, or None: a global batch that does not divide
    among the processes, or more processes on this machine than CUDA GPUs when training on CUDA.
    Explained in the appendix, "Training on several GPUs"."""
    problem = batch_problem(batch_size, launch.world_size)
    if problem:
        return problem
    if device.type == "cuda":
        have = torch.cuda.device_count()
        if launch.local_world_size > have:
            return (f"{launch.local_world_size} processes on this machine train on CUDA, but torch sees "
                    f"{have} GPU{'s' if have != 1 else ''} here; one process per GPU: --nproc-per-node={have}, "
                    "or --device cpu")
    return None


def batch_problem(batch_size: int, world_size: int) -> str | None:
    """Why a global batch of ``batch_size`` images cannot be split evenly among ``world_size`` processes, in one line
    naming the fix, or None. Explained in the appendix, "Training on several GPUs"."""
    n = world_size
    if batch_size % n == 0:
        return None
    lower, upper = batch_size // n * n, -(-batch_size // n) * n
    options = " or ".join(str(b) for b in dict.fromkeys((lower, upper)) if b > 0)
    return (f"the global batch of {batch_size} images does not divide among {n} processes; give --batch-size a "
            f"multiple of {n} (e.g. {options}), or a --nproc-per-node that divides {batch_size}")


class ShardedBatches(DeviceBatches):
    """One process's share of :class:`~nin_book.batches.DeviceBatches`: the same shuffled order on every process
    (seeded by seed and epoch), the remainder that does not divide among the processes dropped, and then every
    ``world_size``-th image from position ``rank`` (``torch.utils.data.DistributedSampler``'s semantics), cut into
    batches of ``batch_size`` (the per-process batch). The k-th batches of all processes together are exactly the
    k-th batch of one process with ``batch_size * world_size``, flips included. Explained in the appendix,
    "Training on several GPUs"."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, *, rank: int, world_size: int,
                 batch_size: int, **options: object) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be from 0 to world_size - 1 = {world_size - 1}, got {rank}")
        super().__init__(images, labels, batch_size=batch_size, **options)  # type: ignore[arg-type]
        self.rank, self.world_size = rank, world_size

    def _positions(self) -> torch.Tensor:
        n = len(self.images) // self.world_size * self.world_size  # the remainder is dropped
        return torch.arange(self.rank, n, self.world_size, device=self.device)

    @property
    def num_images(self) -> int:
        """Images per epoch on this process."""
        n = len(self.images) // self.world_size
        return (n // self.batch_size) * self.batch_size if self.drop_last else n

    def __len__(self) -> int:
        n = len(self.images) // self.world_size
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.images)
        gen = self._generator()  # the same draws as DeviceBatches: the same order and flips on every process
        order = torch.randperm(n, generator=gen).to(self.device) if self.shuffle else torch.arange(n, device=self.device)
        flips = torch.rand(n, generator=gen).lt(0.5).to(self.device) if self.flip else None
        mine = self._positions()
        for start in range(0, self.num_images, self.batch_size):
            at = mine[start:start + self.batch_size]
            idx = order[at]
            x = prepare_images(self.images[idx], self.resolution)
            if flips is not None:
                x = torch.where(flips[at].view(-1, 1, 1, 1), x.flip(-1), x)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, self.labels[idx]


@dataclass
class DataParallel:
    """The running process group as the trainer uses it: this process's rank, the number of processes, the
    backend (nccl on GPUs, gloo on the CPU) and where every rank runs (host name, process id), so that a rank that
    dies can be named. Explained in the appendix, "Training on several GPUs"."""

    rank: int
    world_size: int
    backend: str
    device: torch.device
    peers: list[tuple[str, int]]
    local_world_size: int = 1

    def wrap(self, model: nn.Module) -> nn.Module:
        """``model`` wrapped in DistributedDataParallel. With nccl its batch norms become SyncBatchNorm (in place),
        which normalise with the statistics of the whole global batch, as one process would; gloo (CPU) has no
        SyncBatchNorm, so there each process normalises its own shard."""
        if self.backend == "nccl":
            sync_batch_norm(model)
        ids = [self.device.index if self.device.index is not None else torch.cuda.current_device()] \
            if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def total(self, tensor: torch.Tensor) -> torch.Tensor:
        """The sum of ``tensor`` over all processes (in place, and returned)."""
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def from_rank0(self, value: float) -> float:
        """Rank 0's ``value`` on every process."""
        box = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.broadcast(box, src=0)
        return float(box.item())

    def all_ok(self, ok: bool) -> bool:
        """True on every process when ``ok`` is true on every process: a decision all ranks take together."""
        flag = torch.tensor([1 if ok else 0], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        return bool(flag.item())

    def earliest(self, step: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Over all processes, the earliest ``step`` that is set (not negative) and its ``value``: every rank
        gets the same answer, so that they stop at the same step (a NaN or a stall on one rank stops them all)."""
        mine = torch.stack([step.to(torch.float64), value.to(torch.float64)]).to(self.device)
        rows = [torch.empty_like(mine) for _ in range(self.world_size)]
        dist.all_gather(rows, mine)
        table = torch.stack(rows)
        keyed = torch.where(table[:, 0] < 0, torch.full_like(table[:, 0], float("inf")), table[:, 0])
        first = int(keyed.argmin())
        return table[first, 0].to(step.dtype).to(step.device), table[first, 1].to(value.dtype).to(value.device)

    def gather(self, obj: object) -> list[object]:
        """Every process's ``obj`` (picklable), in rank order, on every process."""
        out: list[object] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def dead_peers(self) -> list[int]:
        """The ranks on this machine whose process has exited (the ones on other machines cannot be checked)."""
        here = socket.gethostname()
        return [rank for rank, (host, pid) in enumerate(self.peers)
                if rank != self.rank and host == here and not _alive(pid)]

    def launcher(self) -> str:
        """The launch as a command's start, for the metrics: ``torchrun --nnodes=… --nproc-per-node=… -m``."""
        return f"torchrun --nnodes={self.world_size // self.local_world_size} --nproc-per-node={self.local_world_size} -m"

    def own_rng(self, state: dict[str, object]) -> torch.Tensor:
        """This rank's random state from a checkpoint: its own when the checkpoint was written by as many ranks, else
        rank 0's (a run resumed on another number of processes draws other dropout masks)."""
        ranks = state.get("rank_rng")
        if isinstance(ranks, list) and len(ranks) == self.world_size:
            return ranks[self.rank]
        return state["rng"]  # type: ignore[return-value]

    def describe_failure(self, err: BaseException | None, checkpoint: object = None) -> str:
        """One line for training stopped because another process stopped (a collective that failed with ``err``, or
        the launcher's SIGTERM after a rank died: ``err`` None), naming that rank where it can, and what the
        ``checkpoint`` (if any) keeps."""
        dead = self.dead_peers()
        who = (f"rank {', '.join(map(str, dead))} ({', '.join(f'pid {self.peers[r][1]}' for r in dead)}) exited"
               if dead else "another rank stopped or cannot be reached")
        # gloo's message starts with its source location ("[.../pair.cc:561] Connection closed by peer ..."): drop it.
        text = "" if err is None else re.sub(r"^\[[^\]]*:\d+\]\s*", "", str(err).strip())
        first = re.split(r"(?<=\w)\. |\n", text, maxsplit=1)[0] if text else ""
        cause = f" ({first[:120]})" if first else ""
        kept = f"; the checkpoint {checkpoint} keeps the last finished epoch: run again to resume" if checkpoint else ""
        return f"rank {self.rank}: {who}, so training stopped here too{cause}{kept}"


def sync_batch_norm(model: nn.Module) -> nn.Module:
    """Replace, in place, every batch norm of ``model`` by a ``SyncBatchNorm`` holding the same weights and running
    statistics (its state dict keeps the same names, so checkpoints load either way); returns ``model``. Explained
    in the appendix, "Training on several GPUs"."""
    for name, child in list(model.named_children()):
        setattr(model, name, nn.SyncBatchNorm.convert_sync_batchnorm(child))
    return model


def say(line: str) -> None:
    """Print ``line`` on stderr, from rank 0 only under torchrun (every rank would say the same)."""
    if _group is None or _group.rank == 0:
        print(line, file=sys.stderr)


def is_peer_failure(err: BaseException) -> bool:
    """Whether ``err`` is a collective failing because another process stopped (the connection to it closed, or
    it did not answer in time), rather than a fault of this process."""
    if isinstance(err, dist.DistError):
        return True
    text = str(err).lower()
    return any(word in text for word in ("gloo", "nccl", "connection closed", "connection reset", "broken pipe"))


def _alive(pid: int) -> bool:
    # A child the launcher has not reaped yet is a zombie: it exists, but it is dead.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_group: DataParallel | None = None


def start(launch: Launch, device: torch.device) -> DataParallel:
    """Join the process group torchrun set up: nccl for CUDA (this process uses GPU ``local_rank``), gloo on the
    CPU. Returns the :class:`DataParallel` that :func:`current` gives from then on. Explained in the appendix,
    "Training on several GPUs"."""
    global _group
    if device.type == "cuda":
        torch.cuda.set_device(launch.local_rank)
        device = torch.device("cuda", launch.local_rank)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=launch.rank, world_size=launch.world_size,
                                **({"device_id": device} if device.type == "cuda" else {}))
    group = DataParallel(rank=launch.rank, world_size=launch.world_size, backend=backend, device=device, peers=[],
                         local_world_size=launch.local_world_size)
    group.peers = [tuple(p) for p in group.gather((socket.gethostname(), os.getpid()))]  # type: ignore[misc]
    _group = group
    return group


def current() -> DataParallel | None:
    """The process group this process trains in (set by :func:`start`), or None for single-process training."""
    return _group if _group is not None and dist.is_initialized() else None


def stop() -> None:
    """Leave the process group joined by :func:`start` (a no-op when none was, whatever else initialised one)."""
    global _group
    joined, _group = _group is not None, None
    if joined and dist.is_initialized():
        with contextlib.suppress(Exception):  # the group may be broken by a rank that died: leaving it must not raise
            dist.destroy_process_group()
