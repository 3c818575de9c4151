"""Distributed data-parallel training under ``torchrun``; the same code runs single-process.

``torchrun --nproc_per_node=N -m cnnzoo train …`` sets ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``;
:func:`init_distributed` reads them and joins the process group (NCCL on
GPUs, gloo on CPUs). Each process trains on its shard of every epoch
(:class:`ResumableDistributedSampler`), DistributedDataParallel averages the
gradients, and only rank 0 logs and writes checkpoints. ``--batch-size`` is
per process, so the global batch is ``N × batch_size``. Without the variables
everything here is a no-op and ``world_size`` is 1.

Batch normalisation normalises each process's batch on its own unless
``--sync-bn`` converts it to ``SyncBatchNorm``, which averages the batch
statistics over all processes (worth it when the per-process batch is small).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import Dataset, DistributedSampler, Sampler

__all__ = ["DistInfo", "DistributedSetupError", "ResumableDistributedSampler", "ShardSampler", "all_reduce_sum", "barrier", "cleanup", "init_distributed", "wrap_model"]


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialized_here: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


class DistributedSetupError(ValueError):
    """The environment describes a distributed launch that cannot work (a variable missing or malformed, a peer absent)."""


LAUNCH_HINT = "launch with torchrun --nproc_per_node=N -m cnnzoo train …, which sets them all"
TIMEOUT_ENV = "CNNZOO_DIST_TIMEOUT"  # seconds to wait for every process to join (default 300)


def _env_int(name: str, low: int, high: int | None = None) -> int:
    text = os.environ[name]
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if value < low or (high is not None and value > high):
        expected = f"from {low} to {high}" if high is not None else f">= {low}"
        raise DistributedSetupError(f"{name} must be an integer {expected}; got {text!r}")
    return value


def _check_launch_env() -> int:
    """``WORLD_SIZE`` after checking what joining a process group needs; 1 for a single-process run."""
    if "WORLD_SIZE" not in os.environ:
        if os.environ.get("RANK", "0") != "0":
            raise DistributedSetupError(f"RANK={os.environ['RANK']} is set but WORLD_SIZE is not; {LAUNCH_HINT}")
        return 1
    world = _env_int("WORLD_SIZE", 1)
    if world == 1:
        return 1
    missing = [n for n in ("RANK", "MASTER_ADDR", "MASTER_PORT") if not os.environ.get(n)]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise DistributedSetupError(f"WORLD_SIZE={world} asks for a distributed run, but {' and '.join(missing)} {verb} not set; {LAUNCH_HINT}")
    _env_int("RANK", 0, world - 1)
    _env_int("MASTER_PORT", 1, 65535)
    if "LOCAL_RANK" in os.environ:
        _env_int("LOCAL_RANK", 0, world - 1)
    return world


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2: c10d's C++ logs each failed connection attempt there, stack frames and all."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _join(backend: str, world: int) -> None:
    seconds = _env_int(TIMEOUT_ENV, 1) if TIMEOUT_ENV in os.environ else 300
    where = f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}"
    try:
        with _quiet_stderr():  # a failure is reported below, in one line
            dist.init_process_group(backend, timeout=timedelta(seconds=seconds))
    except (RuntimeError, ValueError) as e:  # DistStoreError and gloo's errors are RuntimeErrors
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise DistributedSetupError(
            f"rank {os.environ['RANK']} of WORLD_SIZE={world} could not join the process group at {where} "
            f"within {seconds:g} s ({first}); start all {world} processes ({LAUNCH_HINT})"
        ) from None


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the process group described by torchrun's environment variables, if any.

    A launch without torchrun that lacks a variable, or whose peers never come,
    is a :class:`DistributedSetupError` naming what is missing (after at most
    ``CNNZOO_DIST_TIMEOUT`` seconds, 300 by default), not a hang or a traceback.
    """
    if dist.is_initialized():
        world = dist.get_world_size()
    else:
        world = _check_launch_env()
    if world <= 1 and not dist.is_initialized():
        return DistInfo()
    here = False
    if not dist.is_initialized():
        use_cuda = torch.cuda.is_available() and device != "cpu"
        _join("nccl" if use_cuda else "gloo", world)
        here = True
    rank = dist.get_rank()
    local = int(os.environ.get("LOCAL_RANK", rank))
    if torch.cuda.is_available() and device != "cpu":
        torch.cuda.set_device(local)
    return DistInfo(rank, dist.get_world_size(), local, here)


def cleanup(info: DistInfo) -> None:
    if info.initialized_here and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def all_reduce_sum(t: Tensor, info: DistInfo) -> Tensor:
    """Sum ``t`` over processes in place (gloo and NCCL both take it on the tensor's device)."""
    if info.enabled:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def wrap_model(model: nn.Module, info: DistInfo, device: torch.device, sync_bn: bool = False) -> nn.Module:
    """``model`` in DistributedDataParallel (with SyncBatchNorm if asked); unchanged single-process."""
    if not info.enabled:
        return model
    if sync_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


class ResumableDistributedSampler(DistributedSampler):
    """torch's ``DistributedSampler`` that can start part-way through an epoch.

    The order is DistributedSampler's (a permutation seeded by
    ``seed + epoch``, padded to a multiple of the world size, every
    ``world_size``-th index from ``rank``); ``set_epoch(epoch, start)`` skips
    the first ``start`` indices of this rank's shard, which is where a
    checkpoint written mid-epoch left off. With one process this is the order
    ``DataLoader(shuffle=True, generator=…seed + epoch)`` would draw.
    """

    def __init__(self, dataset: Dataset, info: DistInfo, seed: int, shuffle: bool = True) -> None:
        super().__init__(dataset, num_replicas=info.world_size, rank=info.rank, shuffle=shuffle, seed=seed, drop_last=False)
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:  # type: ignore[override]
        super().set_epoch(epoch)
        self.start = start

    def __iter__(self) -> Iterator[int]:
        return iter(list(super().__iter__())[self.start :])

    def __len__(self) -> int:
        return self.num_samples - self.start


class ShardSampler(Sampler[int]):
    """Every ``world_size``-th index from ``rank``, in order, without padding (for evaluation)."""

    def __init__(self, n: int, info: DistInfo) -> None:
        self.indices = list(range(info.rank, n, info.world_size))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def steps_per_epoch(n: int, batch_size: int, info: DistInfo) -> int:
    return math.ceil(math.ceil(n / info.world_size) / batch_size)
