"""Squeeze-and-Excitation block.

J. Hu, L. Shen, G. Sun, "Squeeze-and-Excitation Networks", CVPR 2018,
arXiv:1709.01507, figure 2 and equations (2)–(4).

squeeze: global average pool ``z_c = mean_{i,j} u_c(i, j)``;
excitation: ``s = gate(W2 · act(W1 · z))`` with ``W1`` of size ``C/r × C``;
scale: ``x̃_c = s_c · u_c``. With biases, one block adds ``2C²/r + C/r + C``
parameters; the paper's ``2/r · Σ C_s²`` counts the weights only.

MobileNet v3 uses ``gate=nn.Hardsigmoid`` and a bottleneck of ``C/4`` rounded to
a multiple of 8; EfficientNet reduces relative to the block's *input* width
with SiLU; both are expressed with ``rd_channels``, ``act`` and ``gate``.
"""

from __future__ import annotations

from torch import Tensor, nn


class SqueezeExcite(nn.Module):
    """``(N, C, H, W) -> (N, C, H, W)``, each channel rescaled by a learned gate in (0, 1).

    Args:
        channels: ``C``.
        reduction: ``r`` (16 in the SENet paper); ignored if ``rd_channels`` is given.
        rd_channels: width of the bottleneck, overriding ``C // r``.
        act: non-linearity between the two FC layers (ReLU in the paper).
        gate: the excitation gate (sigmoid in the paper).
    """

    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        rd_channels: int | None = None,
        act: type[nn.Module] = nn.ReLU,
        gate: type[nn.Module] = nn.Sigmoid,
    ) -> None:
        super().__init__()
        rd = rd_channels if rd_channels is not None else max(1, channels // reduction)
        # 1×1 convolutions on the pooled vector are the paper's FC layers, and
        # keep the tensor 4-D so the block drops into any network.
        self.fc1 = nn.Conv2d(channels, rd, 1)
        self.act = act()
        self.fc2 = nn.Conv2d(rd, channels, 1)
        self.gate = gate()

    def forward(self, x: Tensor) -> Tensor:
        s = x.mean((2, 3), keepdim=True)  # squeeze: N x C x 1 x 1
        s = self.gate(self.fc2(self.act(self.fc1(s))))  # excitation
        return x * s
