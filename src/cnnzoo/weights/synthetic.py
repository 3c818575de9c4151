"""Deterministic stand-in weights: every tensor filled from its name alone.

The import tests cannot load torchvision's or timm's real checkpoints (nothing
downloads, neither library is a dependency). Instead, each supported source
model's state-dict manifest (names, shapes, dtypes) was recorded together with
the logits its *own* forward pass gives when every tensor is filled by this
rule. Rebuilding the same tensors here, importing them and comparing logits
proves that the name mapping and the variant options reproduce the source
network exactly. The rule depends on nothing but the name, shape and dtype, so
it gives the same values in any environment with the same torch.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable

import torch

__all__ = ["fill_keras", "fill_tensor", "fixed_input", "synthetic_state_dict"]


def _generator(name: str) -> torch.Generator:
    # A stable hash (Python's hash() is salted per process).
    seed = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little") & (2**63 - 1)
    return torch.Generator().manual_seed(seed)


def fill_tensor(name: str, shape: Iterable[int], dtype: str = "float32") -> torch.Tensor:
    """The tensor called ``name``: scaled so deep networks stay finite, BN variances positive."""
    shape = tuple(int(s) for s in shape)
    if not dtype.startswith("float"):  # num_batches_tracked and other counters
        return torch.zeros(shape, dtype=getattr(torch, dtype))
    g = _generator(name)
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    leaf = name.rsplit(".", 1)[-1].lower()
    if "running_var" in leaf or "moving_variance" in leaf:
        x = 0.5 + torch.rand(shape, generator=g, dtype=torch.float64)
    elif len(shape) >= 2:  # convolution and linear weights: unit gain on fan-in
        x = x / math.sqrt(max(1, math.prod(shape[1:])))
    elif leaf in ("weight", "gamma") and len(shape) == 1:  # normalisation scales
        x = 1.0 + 0.1 * x
    else:  # biases, BN shifts and running means
        x = 0.1 * x
    return x.to(getattr(torch, dtype))


def fill_keras(name: str, shape: Iterable[int]) -> torch.Tensor:
    """``fill_tensor``'s values for a Keras weight, at unit gain on Keras's fan-in.

    Keras keeps kernels as (H, W, in, out) and Dense kernels as (in, out), so
    ``fill_tensor``'s (out, in, …) fan-in would shrink every layer's signal
    until the biases alone set the logits and the input (and so padding or
    channel order) no longer mattered. A depthwise kernel (H, W, in, 1) has
    fan-in H·W.
    """
    shape = tuple(int(s) for s in shape)
    x = fill_tensor(name, shape)
    if len(shape) < 2:
        return x
    fan_in = math.prod(shape[:2]) if name.endswith("depthwise_kernel") else math.prod(shape[:-1])
    return x * math.sqrt(math.prod(shape[1:]) / fan_in)


def synthetic_state_dict(manifest: Iterable[tuple[str, list[int], str]]) -> dict[str, torch.Tensor]:
    """``{name: fill_tensor(name, shape, dtype)}`` in the manifest's order."""
    return {name: fill_tensor(name, shape, dtype) for name, shape, dtype in manifest}


def fixed_input(shape: Iterable[int]) -> torch.Tensor:
    """The one input every recorded forward pass used: N(0, 1) from generator seed 0."""
    return torch.randn(tuple(int(s) for s in shape), generator=torch.Generator().manual_seed(0))
