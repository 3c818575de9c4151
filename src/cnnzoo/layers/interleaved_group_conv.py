"""Interleaved group convolution (IGC).

T. Zhang, G.-J. Qi, B. Xiao, J. Wang, "Interleaved Group Convolutions for
Deep Neural Networks", ICCV 2017, arXiv:1707.02725, §3.

Two group convolutions in a row, with a permutation between them so that they
are complementary:

* the *primary* group convolution splits the ``C = L·M`` channels into ``L``
  partitions of ``M`` channels and applies a ``k×k`` convolution inside each;
* the channels are permuted so that secondary partition ``j`` holds the
  ``j``-th channel of every primary partition (a channel shuffle with ``L``
  groups);
* the *secondary* group convolution applies a ``1×1`` convolution inside each
  of its ``M`` partitions of ``L`` channels, and the inverse permutation (a
  shuffle with ``M`` groups) restores the order.

The block is one linear map ``x ↦ Pᵀ W_d P W_p x``, a dense convolution whose
kernel is structured: every output channel depends on every input channel,
with ``L·M²·k² + M·L²`` weights instead of ``C²·k²``. ``M = 1`` gives a
depthwise conv followed by a dense 1×1 conv (Xception's separable conv);
``L = 1`` a dense ``k×k`` conv followed by a per-channel scale.
"""

from __future__ import annotations

from torch import Tensor, nn

from cnnzoo.layers.channel_shuffle import channel_shuffle

__all__ = ["InterleavedGroupConv2d", "igc_num_params"]


def igc_num_params(primary_groups: int, group_width: int, kernel_size: int) -> int:
    """Weights of an IGC block with ``L`` primary partitions of ``M`` channels: ``L·M²·k² + M·L²``."""
    l, m = primary_groups, group_width
    return l * m * m * kernel_size**2 + m * l * l


class InterleavedGroupConv2d(nn.Module):
    """IGC block (no bias, no normalisation): ``(N, in_chans, H, W) -> (N, C, H/stride, W/stride)``.

    Args:
        channels: ``C = L·M``.
        primary_groups: ``L``; must divide ``channels``.
        kernel_size: of the primary (spatial) group conv; "same" padding.
        stride: of the primary group conv.
        in_chans: input channels of the primary group conv when they differ
            from ``C`` (the released IGC networks widen inside the first block of
            a stage: ``L`` partitions of ``in_chans / L`` become ``L`` of ``M``).
    """

    def __init__(
        self, channels: int, primary_groups: int, kernel_size: int = 3, stride: int = 1, in_chans: int | None = None
    ) -> None:
        super().__init__()
        in_chans = channels if in_chans is None else in_chans
        if primary_groups < 1 or channels % primary_groups or in_chans % primary_groups:
            raise ValueError(
                f"primary_groups (L) must divide the channels (C = L·M) and the input channels; "
                f"got C={channels}, in_chans={in_chans}, L={primary_groups}"
            )
        self.primary_groups = primary_groups
        self.group_width = channels // primary_groups
        self.primary = nn.Conv2d(
            in_chans,
            channels,
            kernel_size,
            stride,
            kernel_size // 2,
            groups=primary_groups,
            bias=False,
        )
        self.secondary = nn.Conv2d(channels, channels, 1, groups=self.group_width, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        x = self.primary(x)
        x = channel_shuffle(
            x, self.primary_groups
        )  # P: partition j gets channel j of each primary group
        x = self.secondary(x)
        return channel_shuffle(x, self.group_width)  # Pᵀ: back to the primary order
