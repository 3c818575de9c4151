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

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["LocalResponseNorm"]


class LocalResponseNorm(nn.Module):
    """LRN exactly as AlexNet's §3.3 writes it; ``(N, C, H, W) -> (N, C, H, W)``.

    Args:
        size: ``n``, how many adjacent channels (including the channel itself)
            enter the sum; the window is centred, ``n // 2`` on each side (for
            even ``n`` it reaches one channel further back than forward).
        alpha: ``α``, multiplying the *sum* of squares (not the mean).
        beta: ``β``, the exponent.
        k: the additive constant that keeps the denominator away from zero.

    No parameters are learned.
    """

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0) -> None:
        super().__init__()
        if size < 1:
            raise ValueError(f"LRN size n must be a positive number of channels; got {size}")
        if alpha < 0 or beta < 0 or k <= 0:
            raise ValueError(f"LRN needs alpha >= 0, beta >= 0 and k > 0; got alpha={alpha}, beta={beta}, k={k}")
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x: Tensor) -> Tensor:
        # torch's kernel averages the squares over `size` channels; scaling α by
        # `size` turns its mean back into the paper's sum.
        return F.local_response_norm(x, self.size, alpha=self.alpha * self.size, beta=self.beta, k=self.k)

    def extra_repr(self) -> str:
        return f"n={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
