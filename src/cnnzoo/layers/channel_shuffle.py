"""Channel shuffle, the operation that lets stacked group convolutions talk.

X. Zhang, X. Zhou, M. Lin, J. Sun, "ShuffleNet: An Extremely Efficient
Convolutional Neural Network for Mobile Devices", CVPR 2018, arXiv:1707.01083, §3.1.

With ``g`` groups of ``n`` channels each, reshape the channel axis to
``(g, n)``, transpose to ``(n, g)`` and flatten: channel ``i·n + j`` moves to
``j·g + i``, so every group of the next group convolution receives one channel
from every group of the previous one. The shuffle is a permutation; the shuffle
with ``n = C/g`` groups undoes it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["ChannelShuffle", "channel_shuffle", "channel_shuffle_permutation"]


def _check(channels: int, groups: int) -> None:
    if groups < 1 or channels % groups:
        raise ValueError(
            f"channel shuffle needs a positive number of groups that divides the channels; "
            f"got {channels} channels and groups={groups}"
        )


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """Shuffle the channels of ``x`` (``(N, C, ...)``) across ``groups`` groups; same shape out."""
    n, c = x.shape[:2]
    _check(c, groups)
    rest = x.shape[2:]
    return x.reshape(n, groups, c // groups, *rest).transpose(1, 2).reshape(n, c, *rest)


def channel_shuffle_permutation(channels: int, groups: int) -> Tensor:
    """Indices ``p`` with ``channel_shuffle(x, groups) == x[:, p]``."""
    _check(channels, groups)
    return torch.arange(channels).reshape(groups, channels // groups).t().reshape(-1)


class ChannelShuffle(nn.Module):
    """Module form of :func:`channel_shuffle`: ``(N, C, H, W) -> (N, C, H, W)``."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        if groups < 1:
            raise ValueError(f"groups must be a positive integer; got {groups}")
        self.groups = groups

    def forward(self, x: Tensor) -> Tensor:
        return channel_shuffle(x, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"
