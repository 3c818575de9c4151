"""Local response normalisation (LRN) across channels.

A. Krizhevsky, I. Sutskever, G. Hinton, "ImageNet Classification with Deep
Convolutional Neural Networks", NIPS 2012, §3.3:

    b^i_{x,y} = a^i_{x,y} / ( k + α · Σ_{j = max(0, i − n/2)}^{min(N − 1, i + n/2)} (a^j_{x,y})² )^β

with ``k = 2, n = 5, α = 1e-4, β = 0.75``: each activity is damped by the
energy of the ``n`` adjacent channels at the same position ("lateral
inhibition"). The sum runs over at most ``n`` channels and is clipped at the
ends of the channel axis.

Conventions differ, and the difference is a factor of ``n`` in α:

* the paper (and this module) multiplies the *sum* of squares by ``α``;
* Caffe and ``torch.nn.LocalResponseNorm`` multiply the *mean*, ``α/n · Σ``.

So ``LocalResponseNorm(n, alpha=a)`` equals ``torch.nn.LocalResponseNorm(n,
alpha=a * n)``. GoogLeNet's reference (Caffe) model uses ``n = 5``,
``α_caffe = 1e-4``, ``k = 1``, which is ``alpha=2e-5`` here.

VGG (Simonyan & Zisserman 2015, configuration A-LRN) found that LRN does not
help a deep network, and BatchNorm replaced it after 2015.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.autograd.function import FunctionCtx, once_differentiable

__all__ = ["LocalResponseNorm", "local_response_norm"]


def _window_sum(sq: Tensor, before: int, after: int, dim: int) -> Tensor:
    """``s[i] = Σ sq[j]`` for ``j`` from ``i − before`` to ``i + after`` along ``dim``, clipped at the ends.

    ``n − 1`` in-place adds of shifted slices: no padded copy, and a fraction of
    the work of ``F.local_response_norm``'s ``avg_pool3d`` over a ``(n, 1, 1)`` window.
    """
    s = sq.clone()
    c = sq.shape[dim]
    for o in range(1, min(before, c - 1) + 1):
        s.narrow(dim, o, c - o).add_(sq.narrow(dim, 0, c - o))
    for o in range(1, min(after, c - 1) + 1):
        s.narrow(dim, 0, c - o).add_(sq.narrow(dim, o, c - o))
    return s


class _LRN(torch.autograd.Function):
    """``b = a · d^{−β}``, ``d = k + α Σ_window a²``, with the gradient written out.

    ``∂L/∂a_j = g_j d_j^{−β} − 2αβ a_j Σ_{i : j ∈ window(i)} g_i b_i / d_i``: the
    transposed window is the same sum with ``before`` and ``after`` swapped.
    One autograd node instead of one per op: at AlexNet's second LRN the
    forward and backward take less than half the time of autograd through the
    same sums (``benchmarks/lrn.py``).
    """

    @staticmethod
    def forward(
        ctx: FunctionCtx, x: Tensor, size: int, alpha: float, beta: float, k: float, dim: int
    ) -> Tensor:
        d = _window_sum(x * x, size // 2, (size - 1) // 2, dim).mul_(alpha).add_(k)
        scale = d.pow(-beta)
        # Keeping d^{−β} as well as d spares the backward pass a second pow.
        ctx.save_for_backward(x, d, scale)
        ctx.hyper = (size, alpha, beta, dim)
        return x * scale

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, g: Tensor) -> tuple[Tensor | None, ...]:
        x, d, scale = ctx.saved_tensors
        size, alpha, beta, dim = ctx.hyper
        back = _window_sum(g * x * scale / d, (size - 1) // 2, size // 2, dim)
        grad = g * scale - (2 * alpha * beta) * x * back
        return grad, None, None, None, None, None


def local_response_norm(
    x: Tensor, size: int, alpha: float, beta: float = 0.75, k: float = 2.0, groups: int = 1
) -> Tensor:
    """LRN with the paper's ``α`` (on the *sum* of squares), over ``groups`` separate channel groups.

    Equal to ``F.local_response_norm(x, size, alpha * size, beta, k)`` for
    ``groups=1`` (to float rounding), and to it applied to each group of
    ``C / groups`` channels on its own otherwise. ``x``: ``(N, C, *)``.
    """
    dim = 1
    if groups > 1:  # (N, G, C/G, *): a view; the window runs along dim 2 within each group
        x = x.unflatten(1, (groups, x.shape[1] // groups))
        dim = 2
    if x.requires_grad and torch.is_grad_enabled():
        y = _LRN.apply(x, size, alpha, beta, k, dim)
    else:  # the same arithmetic, with nothing kept for a backward pass
        y = x * _window_sum(x * x, size // 2, (size - 1) // 2, dim).mul_(alpha).add_(k).pow_(-beta)
    return y.flatten(1, 2) if groups > 1 else y


class LocalResponseNorm(nn.Module):
    """LRN exactly as AlexNet's §3.3 writes it; ``(N, C, H, W) -> (N, C, H, W)``.

    Args:
        size: ``n``, how many adjacent channels (including the channel itself)
            enter the sum; the window is centred, ``n // 2`` on each side (for
            even ``n`` it reaches one channel further back than forward).
        alpha: ``α``, multiplying the *sum* of squares (not the mean).
        beta: ``β``, the exponent.
        k: the additive constant that keeps the denominator away from zero.
        groups: channel groups normalised separately (AlexNet's two GPUs: each
            normalised the maps it held, so ``groups=2`` in the two-tower network).

    No parameters are learned.
    """

    def __init__(
        self,
        size: int = 5,
        alpha: float = 1e-4,
        beta: float = 0.75,
        k: float = 2.0,
        groups: int = 1,
    ) -> None:
        super().__init__()
        if size < 1:
            raise ValueError(f"LRN size n must be a positive number of channels; got {size}")
        if alpha < 0 or beta < 0 or k <= 0:
            raise ValueError(
                f"LRN needs alpha >= 0, beta >= 0 and k > 0; got alpha={alpha}, beta={beta}, k={k}"
            )
        if groups < 1:
            raise ValueError(
                f"LRN groups must be a positive number of channel groups; got {groups}"
            )
        self.size, self.alpha, self.beta, self.k, self.groups = size, alpha, beta, k, groups

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[1] % self.groups:
            raise ValueError(
                f"LRN groups={self.groups} must divide the {x.shape[1]} input channels"
            )
        return local_response_norm(x, self.size, self.alpha, self.beta, self.k, self.groups)

    def extra_repr(self) -> str:
        groups = f", groups={self.groups}" if self.groups > 1 else ""
        return f"n={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}{groups}"
