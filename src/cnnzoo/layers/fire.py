"""The Fire module of SqueezeNet, with the bypass connections of §6.

F. Iandola, S. Han, M. Moskewicz, K. Ashraf, W. Dally, K. Keutzer,
"SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model
size", arXiv:1602.07360, figure 1 and §3.2, §6.

A *squeeze* layer of ``s1x1`` 1×1 filters feeds an *expand* layer that runs
``e1x1`` 1×1 and ``e3x3`` 3×3 filters side by side and concatenates them
(``e1x1 + e3x3`` output channels); ReLU after every convolution. Keeping
``s1x1 < e1x1 + e3x3`` limits the input channels of the 3×3 filters, the
paper's strategy 2 for few parameters; strategy 1 is the 1×1 filters.

Bypass (§6, figure 2): the module's input is added to its output, as in
ResNet. "simple" bypass needs equal input and output widths; "complex" bypass
uses a 1×1 convolution on the shortcut where the widths differ.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["Fire"]


class Fire(nn.Module):
    """``(N, in_chans, H, W) -> (N, e1x1 + e3x3, H, W)``.

    Args:
        in_chans: input channels.
        s1x1: squeeze filters.
        e1x1: expand 1×1 filters.
        e3x3: expand 3×3 filters ("same" padded so the two can be concatenated).
        bypass: ``None``, ``"simple"`` (identity shortcut; widths must match)
            or ``"complex"`` (identity, or a 1×1 conv with bias where widths
            differ).
    """

    def __init__(self, in_chans: int, s1x1: int, e1x1: int, e3x3: int, bypass: str | None = None) -> None:
        super().__init__()
        if bypass not in (None, "simple", "complex"):
            raise ValueError(f"bypass must be None, 'simple' or 'complex'; got {bypass!r}")
        out = e1x1 + e3x3
        if bypass == "simple" and in_chans != out:
            raise ValueError(
                f"a simple bypass needs equal input and output widths; got {in_chans} → {out} "
                "(use bypass='complex' for a 1×1 conv shortcut)"
            )
        self.squeeze = nn.Conv2d(in_chans, s1x1, 1)
        self.squeeze_act = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(s1x1, e1x1, 1)
        self.expand3x3 = nn.Conv2d(s1x1, e3x3, 3, padding=1)
        self.expand_act = nn.ReLU(inplace=True)
        self.out_chans = out
        self.shortcut: nn.Module | None = None
        if bypass is not None:
            self.shortcut = nn.Identity() if in_chans == out else nn.Conv2d(in_chans, out, 1)

    def forward(self, x: Tensor) -> Tensor:
        s = self.squeeze_act(self.squeeze(x))
        out = self.expand_act(torch.cat([self.expand1x1(s), self.expand3x3(s)], 1))
        return out if self.shortcut is None else out + self.shortcut(x)
