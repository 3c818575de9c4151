"""How many CPU threads torch uses, chosen from the model's size unless the user chose.

Why: PyTorch starts one OpenMP thread per core, and those threads spin while
they wait for each other. For a small model (LeNet-5 on digits) each parallel
region is a few microseconds of work, so on a machine whose cores are busy
with other work the spinning threads wait for a core far longer than they
compute: ``make demo`` took minutes with the default threads and half a minute
with one (see ``benchmarks/threads.py`` and its section of
``benchmarks/RESULTS.md``). A big model's regions are long enough for threads
to pay off, so it gets the cores that other work leaves free: all of them on
an idle machine, one on a busy one.

An explicit choice always wins: ``OMP_NUM_THREADS`` in the environment or
``cnnzoo --threads N`` (which sets it, so DataLoader workers inherit it too).
"""

from __future__ import annotations

import os

__all__ = [
    "SMALL_MACS_PER_STEP",
    "apply_thread_policy",
    "choose_threads",
    "configure_threads",
    "explicit_threads",
    "set_threads",
    "usable_cpus",
]

# Multiply-accumulates of one training step's forward pass (MACs per image x
# batch) below which a model always gets one thread. On a busy machine LeNet-5
# (13M at batch 32) ran 16-27x slower with two spinning threads than with one
# (benchmarks/threads.py); the line sits between it and ResNet-18 at 32x32
# (1.2G), whose layers are long enough to share on an idle machine.
SMALL_MACS_PER_STEP = 100_000_000


def usable_cpus() -> int:
    """The CPUs this process may run on (a container or taskset may allow fewer than exist)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def explicit_threads() -> int | None:
    """The thread count the user chose through ``OMP_NUM_THREADS`` (or ``--threads``), else None."""
    text = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


def choose_threads(macs_per_image: int | None, batch_size: int = 32, cpus: int | None = None, load: float | None = None) -> int:
    """Threads for training a model of ``macs_per_image`` on ``cpus`` CPUs that other work keeps ``load`` busy.

    A small model gets one thread. A larger one (or one of unknown size) gets the
    CPUs other work leaves free (``cpus - load``, at least one): on a busy
    machine, threads that wait for a core spin and slow even ResNet-18 down
    several times, while on an idle one every core pays. ``load`` defaults to the
    one-minute load average.
    """
    if macs_per_image is not None and macs_per_image * batch_size < SMALL_MACS_PER_STEP:
        return 1
    cpus = cpus or usable_cpus()
    if load is None:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return max(1, min(cpus, round(cpus - load)))


def set_threads(n: int) -> None:
    """Use ``n`` threads from now on, here and in child processes (an explicit choice)."""
    import torch

    if n < 1:
        raise ValueError(f"threads must be a positive integer; got {n}")
    os.environ["OMP_NUM_THREADS"] = str(n)  # read by DataLoader workers and other children
    torch.set_num_threads(n)


def apply_thread_policy(macs_per_image: int | None, batch_size: int = 32) -> int:
    """Set torch's thread count for a model of this size unless the user chose one; returns the count used."""
    import torch

    chosen = explicit_threads()
    n = chosen if chosen is not None else choose_threads(macs_per_image, batch_size)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def configure_threads() -> int:
    """At start-up, before the model is known: the CPUs other work leaves free, unless the user chose.

    Training refines this once it knows the model's size (:func:`apply_thread_policy`).
    """
    return apply_thread_policy(None)
