"""Selective kernel (SK) convolution.

X. Li, W. Wang, X. Hu, J. Yang, "Selective Kernel Networks", CVPR 2019,
arXiv:1903.06586, figure 1 and equations (1)–(6).

* split: ``M`` branches over the same input, each a grouped conv + BN + ReLU
  with a different receptive field. The paper's two branches are a 3×3 and a
  5×5 kernel, the 5×5 "replaced by a 3×3 with dilation 2" (same field, fewer
  weights) — our default; ``dilated=False`` gives true ``3 + 2m`` kernels;
* fuse: ``U = Σ_m U_m``; ``s = GAP(U)``; ``z = ReLU(BN(W s))`` with
  ``W ∈ R^{d×C}``, ``d = max(C/r, L)`` (``r = 16``, ``L = 32``);
* select: per channel, a softmax across the branches of ``A_m z``
  (``A_m ∈ R^{C×d}``) weights the branches: ``V = Σ_m a_m · U_m``.

The module brings its own BN and ReLU (``includes_norm_act``): a residual
unit that uses it as its middle layer adds none after it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cnnzoo.layers.conv_bn_act import ConvBNAct

__all__ = ["SelectiveKernelConv"]


class SelectiveKernelConv(nn.Module):
    """``(N, in_chans, H, W) -> (N, out_chans, ceil(H/s), ceil(W/s))``.

    Args:
        in_chans, out_chans: channels in and out.
        stride: stride of every branch.
        groups: groups of each branch's conv (``G = 32`` in SKNet-50).
        num_branches: ``M`` (2 in SKNet-50).
        reduction: ``r`` of the fuse layer.
        min_dim: ``L``, the smallest width of the fuse layer.
        dilated: branch ``m`` is a 3×3 with dilation ``m + 1`` (``True``) or a
            ``(3 + 2m)``×``(3 + 2m)`` kernel (``False``).
    """

    includes_norm_act = True

    def __init__(
        self,
        in_chans: int,
        out_chans: int,
        stride: int = 1,
        groups: int = 32,
        num_branches: int = 2,
        reduction: int = 16,
        min_dim: int = 32,
        dilated: bool = True,
    ) -> None:
        super().__init__()
        if num_branches < 1:
            raise ValueError(f"num_branches (M) must be at least 1; got {num_branches}")
        self.branches = nn.ModuleList(
            ConvBNAct(in_chans, out_chans, 3, stride, groups=groups, dilation=m + 1)
            if dilated
            else ConvBNAct(in_chans, out_chans, 3 + 2 * m, stride, groups=groups)
            for m in range(num_branches)
        )
        d = max(out_chans // reduction, min_dim)
        self.fuse = ConvBNAct(out_chans, d, 1)  # z = ReLU(BN(W s)); W as a 1×1 conv
        self.select = nn.Conv2d(d, out_chans * num_branches, 1, bias=False)  # A, B, ... stacked
        self.num_branches, self.out_chans = num_branches, out_chans

    def attention(self, feats: Tensor) -> Tensor:
        """Branch weights ``(N, M, C, 1, 1)`` that sum to one over ``M``."""
        s = feats.sum(1).mean((2, 3), keepdim=True)  # fuse: GAP(U), N x C x 1 x 1
        a = self.select(self.fuse(s))  # N x MC x 1 x 1
        return a.view(a.shape[0], self.num_branches, self.out_chans, 1, 1).softmax(dim=1)

    def forward(self, x: Tensor) -> Tensor:
        feats = torch.stack([branch(x) for branch in self.branches], dim=1)  # N x M x C x H x W
        return (feats * self.attention(feats)).sum(1)
