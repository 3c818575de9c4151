"""The shortcut variants of He et al. 2016b, figure 2 and table 1.

K. He, X. Zhang, S. Ren, J. Sun, "Identity Mappings in Deep Residual Networks",
ECCV 2016, arXiv:1603.05027, §3.1. Each variant replaces the unit's sum
``h(x) + F(x)`` (``h`` the shortcut, ``F`` the residual branch) by:

=======  =====================  =========================================  ===================
fig. 2   variant                output                                     option here
=======  =====================  =========================================  ===================
(a)      original               ``h(x) + F(x)``                            ``"identity"``
(b)      constant scaling       ``λ_s·h(x) + λ_F·F(x)``                    ``"scaling"``
(c)      exclusive gating       ``(1 − g(x))·h(x) + g(x)·F(x)``            ``"exclusive_gating"``
(d)      shortcut-only gating   ``(1 − g(x))·h(x) + F(x)``                 ``"shortcut_gating"``
(e)      1×1 conv shortcut      ``conv1×1(x) + F(x)``                      ``shortcut="C"``
(f)      dropout shortcut       ``dropout(h(x)) + F(x)``                   ``"dropout"``
=======  =====================  =========================================  ===================

with the gate ``g(x) = σ(W_g x + b_g)``, ``W_g`` a 1×1 convolution (strided
as the unit is) and ``b_g`` its bias, initialised to ``gate_bias``: table 1's
best results start the gates nearly closed on the branch, ``b_g = −6``. The
1×1 convolution shortcut (e) is the projection of option C of He et al.
2016a, so it is that option, not a second way to build it.

Dropout on the shortcut (f) follows the paper's reading that it is
"statistically equivalent" to scaling by λ = 0.5: in training the shortcut is
multiplied by a Bernoulli mask with keep probability ``λ`` (no 1/λ
rescaling), and at test time by ``λ``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = [
    "SHORTCUT_VARIANTS",
    "ConstantScaling",
    "DropoutShortcut",
    "ExclusiveGating",
    "ShortcutOnlyGating",
    "make_combine",
]

SHORTCUT_VARIANTS = ("identity", "scaling", "exclusive_gating", "shortcut_gating", "dropout")


class ConstantScaling(nn.Module):
    """(b): ``λ_s·h + λ_F·F``; all tensors ``(N, C, H, W)``."""

    def __init__(self, shortcut_scale: float = 0.5, branch_scale: float = 0.5) -> None:
        super().__init__()
        self.shortcut_scale, self.branch_scale = shortcut_scale, branch_scale

    def forward(self, x: Tensor, skip: Tensor, branch: Tensor) -> Tensor:
        return self.shortcut_scale * skip + self.branch_scale * branch

    def extra_repr(self) -> str:
        return f"shortcut={self.shortcut_scale}, branch={self.branch_scale}"


class _Gate(nn.Module):
    """``g(x) = σ(W_g x + b_g)``: ``(N, in_chans, H, W) -> (N, out_chans, H/s, W/s)``."""

    def __init__(self, in_chans: int, out_chans: int, stride: int, gate_bias: float) -> None:
        super().__init__()
        self.gate = nn.Conv2d(in_chans, out_chans, 1, stride, bias=True)
        self.gate_bias = gate_bias

    def reset_gate(self) -> None:
        """The bias to ``gate_bias``: the network's weight initialisation must not overwrite it."""
        nn.init.constant_(self.gate.bias, self.gate_bias)

    def g(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.gate(x))


class ExclusiveGating(_Gate):
    """(c): ``(1 − g(x))·h + g(x)·F``."""

    def forward(self, x: Tensor, skip: Tensor, branch: Tensor) -> Tensor:
        g = self.g(x)
        return (1 - g) * skip + g * branch


class ShortcutOnlyGating(_Gate):
    """(d): ``(1 − g(x))·h + F``."""

    def forward(self, x: Tensor, skip: Tensor, branch: Tensor) -> Tensor:
        return (1 - self.g(x)) * skip + branch


class DropoutShortcut(nn.Module):
    """(f): ``m·h + F`` with ``m ~ Bernoulli(keep)`` per element in training, ``keep·h + F`` at test."""

    def __init__(self, keep: float = 0.5) -> None:
        super().__init__()
        if not 0 < keep <= 1:
            raise ValueError(f"dropout shortcut: keep probability must be in (0, 1]; got {keep}")
        self.keep = keep

    def forward(self, x: Tensor, skip: Tensor, branch: Tensor) -> Tensor:
        if self.training:
            return skip * torch.bernoulli(torch.full_like(skip, self.keep)) + branch
        return self.keep * skip + branch

    def extra_repr(self) -> str:
        return f"keep={self.keep}"


def make_combine(
    variant: str,
    in_chans: int,
    out_chans: int,
    stride: int = 1,
    *,
    shortcut_scale: float = 0.5,
    branch_scale: float = 0.5,
    gate_bias: float = -6.0,
) -> nn.Module | None:
    """The module that joins shortcut and branch under ``variant``; ``None`` for the plain sum (a).

    ``shortcut_scale`` is λ_s of (b) and the keep probability of (f) (the
    shortcut's expected scale in both); ``branch_scale`` is λ_F of (b).
    """
    if variant not in SHORTCUT_VARIANTS:
        raise ValueError(
            f"shortcut_variant must be one of {', '.join(SHORTCUT_VARIANTS)} "
            f"(He et al. 2016b, figure 2; the 1×1 conv shortcut (e) is shortcut='C'); got {variant!r}"
        )
    if variant == "identity":
        return None
    if variant == "scaling":
        return ConstantScaling(shortcut_scale, branch_scale)
    if variant == "dropout":
        return DropoutShortcut(shortcut_scale)
    gate = ExclusiveGating if variant == "exclusive_gating" else ShortcutOnlyGating
    return gate(in_chans, out_chans, stride, gate_bias)
