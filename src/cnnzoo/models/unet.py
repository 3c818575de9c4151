"""U-Net.

O. Ronneberger, P. Fischer, T. Brox, "U-Net: Convolutional Networks for
Biomedical Image Segmentation", MICCAI 2015, arXiv:1505.04597.

Reproduces figure 1 of the paper: a contracting path of four stages (two
unpadded 3×3 convolutions with ReLU, then 2×2 max pooling; 64 → 128 → 256 →
512 maps), a 1,024-map bottom, and an expanding path of four stages (a 2×2
"up-convolution" halving the maps, concatenation with the centre crop of the
contracting stage of the same level, two 3×3 convolutions), then a 1×1
convolution to the classes. With valid convolutions a 572×572 tile gives a
388×388 map (the border context is lost, which the paper's overlap-tile
strategy supplies by mirroring); 31,030,658 parameters for one input channel
and two classes (the paper's set-up) — "~31M".

Options and deviations:

* ``padding=True`` pads every 3×3 convolution by 1, so the output has the
  input's size (what most re-implementations do). Inputs whose side is not a
  multiple of 16 are then handled by padding the up-sampled map to the skip
  connection's size before concatenating.
* ``base_width`` (64 in the paper) scales every stage; ``base_width=8`` makes
  a network small enough to train on a CPU in seconds.
* Weights are drawn from a Gaussian with standard deviation ``sqrt(2/N)``,
  ``N = k² · C_in`` the fan-in (§3 of the paper; He et al.'s initialisation).
* "Drop-out layers at the end of the contracting path" (§3.1): one dropout
  (``drop_rate=0.5``) on the bottom's output. No batch normalisation, as in
  the paper by default; ``batch_norm=True`` adds it after every 3×3
  convolution (Ioffe & Szegedy 2015), as most re-implementations do. Without
  it, a small U-Net trained with Adam on ``digits-seg`` sits for many epochs
  at "everything is background" (92% of the pixels); with it, the digits are
  separated within the first epoch (see ``docs/segmentation.md``).
* Valid mode needs at least 188×188 pixels (the bottom must be 4×4 so that
  the expanding path stays positive); for sizes the paper recommends (each
  pooling on an even map) the skip crops are exact, otherwise centre crops
  round down.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnzoo.layers.input_check import check_input_size
from cnnzoo.models.interface import ClassifierInterface
from cnnzoo.registry import register_model

__all__ = ["VALID_GRID", "VALID_MARGIN", "UNet", "unet", "valid_output_side"]

MIN_SIZE_VALID = 188
MIN_SIZE_PADDED = 16
# Valid-mode geometry (figure 1): a tile loses 92 pixels of context on each side
# (572 → 388), and its output side is 16·c − 60 for a bottom map of c ≥ 4 pixels
# (388 = 16·28 − 60): four 2×2 poolings make 16 the grid a tile must start on.
VALID_MARGIN, VALID_GRID = 92, 16


def valid_output_side(at_least: int) -> int:
    """The smallest output side ≥ ``at_least`` that valid mode produces (4, 20, 36, …, 388, …)."""
    c = max(4, -(-(at_least + 60) // VALID_GRID))
    return VALID_GRID * c - 60


class DoubleConv(nn.Sequential):
    """Two 3×3 convolutions with ReLU: ``(N, in, H, W) -> (N, out, H − 4, W − 4)`` (or same size, padded).

    ``batch_norm`` puts a batch normalisation between each convolution and its
    ReLU (the convolutions then have no bias, which the normalisation cancels).
    """

    def __init__(self, in_chans: int, out_chans: int, padding: bool, batch_norm: bool = False) -> None:
        p = 1 if padding else 0
        super().__init__()
        self.conv1 = nn.Conv2d(in_chans, out_chans, 3, padding=p, bias=not batch_norm)
        if batch_norm:
            self.bn1 = nn.BatchNorm2d(out_chans)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_chans, out_chans, 3, padding=p, bias=not batch_norm)
        if batch_norm:
            self.bn2 = nn.BatchNorm2d(out_chans)
        self.relu2 = nn.ReLU(inplace=True)


def _centre_crop(x: Tensor, size: tuple[int, int]) -> Tensor:
    dh, dw = (x.shape[-2] - size[0]) // 2, (x.shape[-1] - size[1]) // 2
    return x[..., dh : dh + size[0], dw : dw + size[1]]


class Up(nn.Module):
    """2×2 up-convolution, concatenation with the skip, two 3×3 convolutions."""

    def __init__(self, in_chans: int, out_chans: int, padding: bool, batch_norm: bool = False) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_chans, out_chans, 2, stride=2)
        self.conv = DoubleConv(2 * out_chans, out_chans, padding, batch_norm)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        x = self.up(x)
        if skip.shape[-2:] != x.shape[-2:]:
            if skip.shape[-2] >= x.shape[-2] and skip.shape[-1] >= x.shape[-1] and self.conv.conv1.padding == (0, 0):
                skip = _centre_crop(skip, x.shape[-2:])  # the paper's "cropping"
            else:
                dh, dw = skip.shape[-2] - x.shape[-2], skip.shape[-1] - x.shape[-1]
                x = F.pad(x, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2))
        return self.conv(torch.cat((skip, x), dim=1))


class UNet(ClassifierInterface, nn.Module):
    """U-Net: ``(N, in_chans, 572, 572) -> (N, num_classes, 388, 388)``; same size with ``padding=True``.

    Args:
        num_classes: output maps (2 in the paper: cell and border/background).
        in_chans: input channels (1: grey-scale microscopy).
        padding: pad the 3×3 convolutions (output = input size).
        base_width: maps of the first stage; the others are 2×, 4×, 8×, 16×.
        drop_rate: dropout at the end of the contracting path.
        batch_norm: batch normalisation after every 3×3 convolution (not in
            the paper; see the module notes).

    ``forward_features`` runs both paths and returns the last expanding stage's
    map, ``(N, base_width, H', W')``; ``forward_head`` is the 1×1 convolution to
    the classes, the only layer that sees them.
    """

    classifier_names = ("head",)

    def __init__(
        self,
        num_classes: int = 2,
        in_chans: int = 1,
        padding: bool = False,
        base_width: int = 64,
        drop_rate: float = 0.5,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        if base_width < 1:
            raise ValueError(f"base_width must be a positive integer; got {base_width}")
        self.in_chans, self.padding = in_chans, padding
        self.min_size = MIN_SIZE_PADDED if padding else MIN_SIZE_VALID
        w = [base_width * 2**i for i in range(5)]  # 64, 128, 256, 512, 1024
        self.down = nn.ModuleList([DoubleConv(in_chans, w[0], padding, batch_norm)])
        self.down.extend(DoubleConv(w[i], w[i + 1], padding, batch_norm) for i in range(4))
        self.pool = nn.MaxPool2d(2, 2)
        self.drop = nn.Dropout(drop_rate)
        self.up = nn.ModuleList(Up(w[i + 1], w[i], padding, batch_norm) for i in reversed(range(4)))
        self.head = nn.Conv2d(w[0], num_classes, 1)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                # std sqrt(2 / N), N = fan-in; for the up-convolution the fan-in
                # of an output unit is k² · C_in / stride² = C_in.
                fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
                if isinstance(m, nn.ConvTranspose2d):
                    fan_in //= m.stride[0] * m.stride[1]
                nn.init.normal_(m.weight, 0.0, (2.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, in_chans, H, W) -> (N, base_width, H', W')``: contracting and expanding paths."""
        check_input_size(x, self.min_size, "unet" + (" (padding=True)" if self.padding else ""), self.in_chans)
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)  # valid, 572 input: 568, 280, 136, 64, then the bottom 28
        x = self.drop(skips.pop())  # N x 1024 x 28 x 28
        for up in self.up:
            x = up(x, skips.pop())  # 52, 100, 196, 388
        return x  # N x 64 x 388 x 388

    def forward_head(self, features: Tensor) -> Tensor:
        """``(N, base_width, H', W') -> (N, num_classes, H', W')``: the 1×1 scoring convolution."""
        return self.head(features)  # N x num_classes x 388 x 388

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


@register_model(
    family="U-Net",
    paper="Ronneberger, Fischer & Brox 2015, arXiv:1505.04597",
    year=2015,
    input_size=(1, 572, 572),
    min_size=MIN_SIZE_VALID,
    params="~31M",
    task="segmentation",
)
def unet(**kwargs) -> UNet:
    """U-Net (valid convolutions: 572 → 388; ``padding=True`` keeps the size); 31.0M parameters."""
    return UNet(**kwargs)
