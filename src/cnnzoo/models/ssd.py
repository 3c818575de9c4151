"""SSD: single-shot multibox detectors — d2l's TinySSD and SSD300 on VGG-16.

W. Liu, D. Anguelov, D. Erhan, C. Szegedy, S. Reed, C.-Y. Fu, A. C. Berg,
"SSD: Single Shot MultiBox Detector", ECCV 2016, arXiv:1512.02325: §2.1 (the
model), §2.2 (default boxes, matching and loss), §3 (VGG-16 base network) and
Fig. 2 (the SSD300 layout).

A base network gives feature maps at several scales; on every cell of each map
a 3×3 convolution predicts, for each of its default boxes, the ``1 + C``
class scores (background first) and the four offsets of the box (§2.1
"Convolutional predictors"). Default boxes have scale ``s_k`` per map and
width/height ratios ``a``: width ``s_k·sqrt(a)``, height ``s_k/sqrt(a)``, plus
for ``a = 1`` one box of scale ``sqrt(s_k·s_{k+1})`` (§2.2 "Choosing scales
and aspect ratios"); they are :func:`cnnzoo.detection.multibox_prior` with
sizes ``[s_k, sqrt(s_k·s_{k+1})]``, built from the maps' sizes on each forward,
so any input size from ``min_size`` up works and boxes come back in its pixels.
The loss and detections are :mod:`cnnzoo.detection.multibox_loss` and
:mod:`cnnzoo.detection.ssd_output`.

**SSD300** (``ssd300_vgg16``): VGG-16 (configuration D) with pool3 rounding up
(75 → 38 at 300×300, as the released Caffe model), pool5 3×3 stride 1, fc6 a
3×3 convolution of 1024 maps with dilation 6 and fc7 a 1×1 convolution of
1024 maps (the à trous reduced fc layers, §3), then the extra layers
conv8_1 … conv11_2 of Fig. 2 (1×1 256 → 3×3/2 512; 1×1 128 → 3×3/2 256; 1×1
128 → 3×3 256 valid, twice). conv4_3's map is L2-normalised with a learned
per-channel scale initialised to 20 (ParseNet, Liu, Rabinovich & Berg 2015,
arXiv:1506.04579; SSD §3). Maps 38, 19, 10, 5, 3, 1 with 4, 6, 6, 6, 4, 4
default boxes (ratios {1, 2, 1/2} and {1, 2, 1/2, 3, 1/3}): **8,732** default
boxes. Scales: 0.1 on conv4_3 (§3), then ``s_k = s_min + (s_max − s_min)(k −
1)/(m − 1)`` with ``s_min = 0.2``, ``s_max = 0.9``, ``m = 5`` on the other
maps (eq. 4), and one more step (1.075) for the last map's extra box. (The
released Caffe model rounds the step to 0.17: 0.1, 0.2, 0.37, 0.54, 0.71,
0.88, 1.05; pass ``scales`` for those.) Weights start Xavier-uniform (the
paper starts from an ImageNet VGG-16; nothing here downloads). The paper's
input is 300×300; ``num_classes`` counts objects without the background (20
for VOC).

**TinySSD** (``tiny_ssd``), d2l.ai §14.7 "Single Shot Multibox Detection":
three down-sampling blocks of 16, 32, 64 maps (each two 3×3 convolution + BN +
ReLU, then 2×2 max pooling), three more of 128 maps and a global max pool:
five maps, each with four default boxes (sizes ``[[0.2, 0.272], [0.37,
0.447], [0.54, 0.619], [0.71, 0.79], [0.88, 0.961]]``, ratios ``[1, 2, 0.5]``),
**5,444** default boxes at 256×256. d2l trains it with cross-entropy and L1
over every anchor; here it trains with SSD's loss (matching, smooth L1, hard
negative mining). ``anchor_sizes`` replaces d2l's sizes (fractions of the
image side) where objects are smaller, as on ``digits-det``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from cnnzoo.detection.anchors import multibox_prior
from cnnzoo.detection.ssd_output import SSDOutput
from cnnzoo.layers.input_check import check_input_size
from cnnzoo.models.detector import Detector
from cnnzoo.models.interface import fresh_output_layer
from cnnzoo.models.vgg import vgg_features
from cnnzoo.registry import register_model

__all__ = ["SSD", "SSD300VGG16", "L2Norm", "SSDFeatures", "TinySSD", "ssd300_vgg16", "tiny_ssd"]

_PAPER = "Liu et al. 2016, arXiv:1512.02325"


@dataclass
class SSDFeatures:
    """The multi-scale feature maps a base network gives, and the input size the default boxes are scaled to."""

    maps: list[Tensor]
    image_size: tuple[int, int]


class SSD(Detector):
    """Prediction heads, default boxes and the SSD output on top of a multi-scale base network.

    Subclasses build the base network, call :meth:`_build_heads` and implement
    ``_maps(x)`` (the feature maps). ``forward(x)`` with ``x (N, C, H, W)``
    returns an :class:`~cnnzoo.detection.ssd_output.SSDOutput` whose
    ``predictions()`` are ``cls_logits (N, A, 1 + num_classes)`` and
    ``box_deltas (N, A, 4)``, ``A`` the default boxes at that input size.
    """

    min_size: int
    name: str

    def _build_heads(
        self, in_channels: Sequence[int], sizes: Sequence[Sequence[float]], ratios: Sequence[Sequence[float]]
    ) -> None:
        n = len(in_channels)
        if len(sizes) != n or len(ratios) != n:
            raise ValueError(f"{self.name}: need sizes and ratios for each of {n} feature maps; got {len(sizes)} and {len(ratios)}")
        self.sizes = [[float(s) for s in ss] for ss in sizes]
        self.ratios = [[float(r) for r in rr] for rr in ratios]
        self.boxes_per_cell = [len(s) + len(r) - 1 for s, r in zip(self.sizes, self.ratios, strict=True)]
        k, cells = self.num_classes + 1, list(zip(in_channels, self.boxes_per_cell, strict=True))
        self.cls_heads = nn.ModuleList(nn.Conv2d(c, a * k, 3, padding=1) for c, a in cells)
        self.box_heads = nn.ModuleList(nn.Conv2d(c, a * 4, 3, padding=1) for c, a in cells)

    def _maps(self, x: Tensor) -> list[Tensor]:
        raise NotImplementedError

    def forward_features(self, x: Tensor) -> SSDFeatures:  # type: ignore[override]
        """``(N, C, H, W)`` → the base network's feature maps, largest first."""
        check_input_size(x, self.min_size, self.name, self.in_chans)
        return SSDFeatures(self._maps(x), (int(x.shape[-2]), int(x.shape[-1])))

    def forward_head(self, features: SSDFeatures) -> SSDOutput:  # type: ignore[override]
        """Feature maps → class scores and offsets of every default box, with the boxes in input pixels."""
        n, k = features.maps[0].shape[0], self.num_classes + 1
        # Cell-major, then the boxes of a cell: the order of multibox_prior.
        cls = [h(f).permute(0, 2, 3, 1).reshape(n, -1, k) for h, f in zip(self.cls_heads, features.maps, strict=True)]
        box = [h(f).permute(0, 2, 3, 1).reshape(n, -1, 4) for h, f in zip(self.box_heads, features.maps, strict=True)]
        return SSDOutput(
            torch.cat(cls, dim=1), torch.cat(box, dim=1), self.default_boxes(features), features.image_size,
            self.score_threshold, self.nms_threshold, self.max_detections,
        )  # fmt: skip

    def default_boxes(self, features: SSDFeatures) -> Tensor:
        """``(A, 4)`` corner boxes in pixels of the input, in the order of the predictions."""
        h, w = features.image_size
        boxes = [multibox_prior(f, s, r)[0] for f, s, r in zip(features.maps, self.sizes, self.ratios, strict=True)]
        return torch.cat(boxes) * torch.tensor([w, h, w, h], dtype=boxes[0].dtype, device=boxes[0].device)

    def reset_classifier(self, num_classes: int) -> None:
        """New class predictors for ``num_classes`` objects (plus background), freshly initialised."""
        if num_classes <= 0:
            raise ValueError(f"num_classes must be a positive integer; got {num_classes}")
        for i, a in enumerate(self.boxes_per_cell):
            self.cls_heads[i] = fresh_output_layer(self.cls_heads[i], a * (num_classes + 1))
        self.num_classes = num_classes


# ---------------------------------------------------------------- TinySSD (d2l.ai §14.7)

TINY_SSD_SIZES = ((0.2, 0.272), (0.37, 0.447), (0.54, 0.619), (0.71, 0.79), (0.88, 0.961))
TINY_SSD_RATIOS = (1.0, 2.0, 0.5)
TINY_SSD_MIN_SIZE = 64  # six 2×2 poolings before the global pool


def down_sample_blk(in_channels: int, out_channels: int) -> nn.Sequential:
    """d2l's ``down_sample_blk``: two 3×3 convolution + BN + ReLU, then 2×2 max pooling (halves H and W)."""
    layers: list[nn.Module] = []
    for c in (in_channels, out_channels):
        layers += [nn.Conv2d(c, out_channels, 3, padding=1), nn.BatchNorm2d(out_channels), nn.ReLU()]
    return nn.Sequential(*layers, nn.MaxPool2d(2))


class TinySSD(SSD):
    """d2l's TinySSD: ``(N, in_chans, H, W)`` → five maps of strides 8, 16, 32, 64 and global.

    Args:
        num_classes: object classes (without background).
        in_chans: input channels.
        anchor_sizes: five ``[s, s']`` pairs, fractions of the image side (d2l's by default).
        width_mult: multiplies every block's channels (16, 32, 64, 128); 1 is d2l's network.
    """

    classifier_names = tuple(f"cls_heads.{i}" for i in range(5))

    def __init__(
        self,
        num_classes: int = 1,
        in_chans: int = 3,
        anchor_sizes: Sequence[Sequence[float]] = TINY_SSD_SIZES,
        width_mult: float = 1.0,
    ) -> None:
        super().__init__()
        if not width_mult > 0:
            raise ValueError(f"width_mult must be positive; got {width_mult}")
        self.name, self.min_size, self.in_chans, self.num_classes = "tiny_ssd", TINY_SSD_MIN_SIZE, in_chans, num_classes
        c = [max(1, round(v * width_mult)) for v in (16, 32, 64, 128)]
        self.base_net = nn.Sequential(down_sample_blk(in_chans, c[0]), down_sample_blk(c[0], c[1]), down_sample_blk(c[1], c[2]))
        self.blks = nn.ModuleList(
            [down_sample_blk(c[2], c[3]), down_sample_blk(c[3], c[3]), down_sample_blk(c[3], c[3]), nn.AdaptiveMaxPool2d(1)]
        )
        self._build_heads([c[2]] + [c[3]] * 4, anchor_sizes, [TINY_SSD_RATIOS] * 5)

    def _maps(self, x: Tensor) -> list[Tensor]:
        maps = [self.base_net(x)]  # N x 64 x H/8 x W/8
        for blk in self.blks:
            maps.append(blk(maps[-1]))  # H/16, H/32, H/64, then 1 x 1
        return maps


# ---------------------------------------------------------------- SSD300 on VGG-16


class L2Norm(nn.Module):
    """ParseNet's L2 normalisation across channels with a learned per-channel scale (initialised to ``scale``)."""

    def __init__(self, channels: int, scale: float = 20.0, eps: float = 1e-10) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels,), float(scale)))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        norm = x.pow(2).sum(dim=1, keepdim=True).sqrt() + self.eps
        return x / norm * self.weight[None, :, None, None]


SSD300_MAPS = (512, 1024, 512, 256, 256, 256)  # conv4_3, fc7, conv8_2, conv9_2, conv10_2, conv11_2
_FOUR, _SIX = (1.0, 2.0, 0.5), (1.0, 2.0, 0.5, 3.0, 1 / 3)  # with the extra ratio-1 box: 4 and 6 a cell
SSD300_RATIOS = (_FOUR, _SIX, _SIX, _SIX, _FOUR, _FOUR)
# conv11_2 needs conv9_2 ≥ 5 (two valid 3×3), so conv8_2 ≥ 9, fc7 ≥ 17, conv4_3 ≥ 34, pool2 ≥ 67: 268.
SSD300_MIN_SIZE = 268


def ssd_scales(s_min: float = 0.2, s_max: float = 0.9, m: int = 5, first: float = 0.1) -> list[float]:
    """SSD's eq. 4 for ``m`` maps, one step more for the last extra box, and ``first`` (conv4_3) in front."""
    step = (s_max - s_min) / (m - 1)
    return [first] + [s_min + step * k for k in range(m + 1)]


def _extra(in_channels: int, mid: int, out: int, stride: int, padding: int) -> nn.Sequential:
    """One extra feature layer of Fig. 2: a 1×1 convolution to ``mid`` maps, then a 3×3 one to ``out``."""
    return nn.Sequential(
        nn.Conv2d(in_channels, mid, 1), nn.ReLU(inplace=True),
        nn.Conv2d(mid, out, 3, stride=stride, padding=padding), nn.ReLU(inplace=True),
    )  # fmt: skip


class SSD300VGG16(SSD):
    """SSD300 (Fig. 2): ``(N, in_chans, 300, 300)`` → 8,732 default boxes on maps 38, 19, 10, 5, 3, 1.

    Args:
        num_classes: object classes (without background; 20 for VOC).
        in_chans: input channels.
        scales: the seven scales ``s_1 … s_7`` (conv4_3 … conv11_2, and the
            one after, for the last extra box); the paper's by default.

    Children: ``vgg`` (conv1_1 … relu7, named as in the Caffe model), ``l2norm``
    (conv4_3's), ``extras`` (conv8 … conv11, each 1×1 then 3×3), the heads.
    """

    classifier_names = tuple(f"cls_heads.{i}" for i in range(6))

    def __init__(self, num_classes: int = 20, in_chans: int = 3, scales: Sequence[float] | None = None) -> None:
        super().__init__()
        s = ssd_scales() if scales is None else [float(v) for v in scales]
        if len(s) != 7 or any(not v > 0 for v in s):
            raise ValueError(f"scales must be 7 positive numbers (conv4_3 … conv11_2 and one more); got {scales}")
        self.name, self.min_size, self.in_chans, self.num_classes = "ssd300_vgg16", SSD300_MIN_SIZE, in_chans, num_classes
        vgg = vgg_features("vgg16", in_chans=in_chans)
        vgg.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        vgg.pool5 = nn.MaxPool2d(3, 1, padding=1)
        vgg.add_module("fc6", nn.Conv2d(512, 1024, 3, padding=6, dilation=6))
        vgg.add_module("relu6", nn.ReLU(inplace=True))
        vgg.add_module("fc7", nn.Conv2d(1024, 1024, 1))
        vgg.add_module("relu7", nn.ReLU(inplace=True))
        self.vgg = vgg
        self.l2norm = L2Norm(512, scale=20.0)
        self.extras = nn.ModuleList([
            _extra(1024, 256, 512, 2, 1), _extra(512, 128, 256, 2, 1),  # conv8, conv9: halve
            _extra(256, 128, 256, 1, 0), _extra(256, 128, 256, 1, 0),  # conv10, conv11: valid, −2
        ])  # fmt: skip
        sizes = [[s[k], math.sqrt(s[k] * s[k + 1])] for k in range(6)]
        self._build_heads(SSD300_MAPS, sizes, SSD300_RATIOS)
        for m in [self.extras, self.cls_heads, self.box_heads, self.vgg.fc6, self.vgg.fc7]:
            for conv in m.modules():
                if isinstance(conv, nn.Conv2d):
                    nn.init.xavier_uniform_(conv.weight)
                    nn.init.zeros_(conv.bias)

    def _maps(self, x: Tensor) -> list[Tensor]:
        maps = []
        for name, layer in self.vgg.named_children():
            x = layer(x)
            if name == "relu4_3":
                maps.append(self.l2norm(x))  # N x 512 x 38 x 38
        maps.append(x)  # fc7: N x 1024 x 19 x 19
        for extra in self.extras:
            x = extra(x)
            maps.append(x)  # 10, 5, 3, 1
        return maps


@register_model(
    family="SSD",
    paper="d2l.ai §14.7 (after Liu et al. 2016, arXiv:1512.02325)",
    year=2016,
    input_size=(3, 256, 256),
    min_size=TINY_SSD_MIN_SIZE,
    task="detection",
    no_reference="d2l.ai prints no parameter count; tests/models/test_ssd.py counts it from the layer description",
)
def tiny_ssd(**kwargs) -> TinySSD:
    """d2l's TinySSD: five scales, four default boxes a cell, 5,444 default boxes at 256×256."""
    return TinySSD(**kwargs)


@register_model(
    family="SSD",
    paper=_PAPER,
    year=2016,
    input_size=(3, 300, 300),
    min_size=SSD300_MIN_SIZE,
    task="detection",
    no_reference="the paper prints no parameter count; tests/models/test_ssd.py counts it from Fig. 2 and checks torchvision's",
)
def ssd300_vgg16(**kwargs) -> SSD300VGG16:
    """SSD300 on VGG-16 (Fig. 2): 8,732 default boxes at 300×300."""
    return SSD300VGG16(**kwargs)
