"""Will a run fit in memory? An estimate from the model built on the meta device, checked before anything is allocated.

``--image-size 100000`` or ``--arg num_classes=10000000000`` would otherwise end
in an allocator traceback (or the kernel's OOM killer, minutes later). The
estimate: the weights, their gradients and up to two optimizer states (Adam's
moments), plus the activations autograd keeps for the backward pass of one
batch (:func:`cnnzoo.analyze` counts them on meta tensors, no real compute).
It is compared with the memory free on the device: ``MemAvailable`` of
``/proc/meminfo`` on the CPU, ``torch.cuda.mem_get_info`` on a GPU.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

__all__ = ["MemoryBudgetError", "available_bytes", "check_fits", "format_bytes"]

PARAM_COPIES = 4  # weights, gradients, two optimizer states (Adam's first and second moments)
FLOAT_BYTES = 4


class MemoryBudgetError(ValueError):
    """The configuration needs more memory than the device has free."""


def format_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"  # pragma: no cover - the loop returns


def available_bytes(device: torch.device) -> tuple[int | None, str]:
    """Free memory on ``device`` and where the figure comes from; ``None`` when it cannot be read."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free), f"free on {device}"
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024, "MemAvailable in /proc/meminfo"
    except OSError:
        pass
    try:  # not Linux: the free pages, which undercounts reclaimable caches but is what there is
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "free physical memory"
    except (ValueError, OSError, AttributeError):
        return None, ""


def check_fits(
    name: str, kwargs: dict[str, Any], input_size: tuple[int, int, int], batch_size: int, device: torch.device, hint: str,
    *, activation_bytes: int = FLOAT_BYTES, activations: bool = True,
) -> int | None:
    """Refuse (:class:`MemoryBudgetError`) a run of ``name`` that cannot fit; return the estimate in bytes.

    ``hint`` names what to lower (the CLI's options); ``activation_bytes`` is 2
    under bf16/fp16 autocast, which keeps most activations in half precision.
    Cheap bounds come first, so a size that could never fit is refused before
    the model is traced; ``activations=False`` checks only the weights (when the
    input size is not known yet).
    """
    limit, source = available_bytes(device)
    if limit is None:
        return None
    shape = "×".join(map(str, input_size))

    def refuse(need: int, what: str) -> MemoryBudgetError:
        return MemoryBudgetError(
            f"{name} at {shape}, batch {batch_size}, needs at least {format_bytes(need)} ({what}) "
            f"but {format_bytes(limit)} is available ({source}); lower {hint}"
        )

    batch_input = batch_size * input_size[0] * input_size[1] * input_size[2] * FLOAT_BYTES
    if batch_input > limit:
        raise refuse(batch_input, "one batch of input images")
    module = _meta_model(name, kwargs)
    if module is None:
        return None
    weights = PARAM_COPIES * sum(p.numel() for p in module.parameters()) * FLOAT_BYTES
    if weights > limit:
        raise refuse(weights, "weights, gradients and optimizer state")
    kept = _training_bytes(module, input_size, batch_size) * activation_bytes // FLOAT_BYTES if activations else 0
    need = weights + batch_input + kept
    if need > limit:
        raise refuse(need, "weights, gradients, optimizer state and the activations kept for the backward pass")
    return need


def _meta_model(name: str, kwargs: dict[str, Any]) -> nn.Module | None:
    """``name`` built without storage; ``None`` if its builder needs real tensors (the estimate is then skipped)."""
    from cnnzoo.analysis.analyze import _SkipInitOnMeta
    from cnnzoo.registry import create

    # Random initialisation of meta tensors is a no-op that costs seconds: skipped.
    try:
        with torch.device("meta"), _SkipInitOnMeta():
            return create(name, **kwargs)
    except ValueError:  # a bad keyword or size: the user's to fix, and the real build would say the same
        raise
    except Exception:  # noqa: BLE001 - e.g. a builder that reads a value from a tensor
        return None


def _training_bytes(module: nn.Module, input_size: tuple[int, int, int], batch_size: int) -> int:
    from cnnzoo import analyze

    try:
        return int(analyze(module, input_size, batch_size=batch_size).training_bytes)
    except ValueError:  # the model refuses this input; setup says so with the real model
        return 0
