"""FCN-32s, FCN-16s and FCN-8s: fully convolutional networks for semantic segmentation.

J. Long, E. Shelhamer, T. Darrell, "Fully Convolutional Networks for Semantic
Segmentation", CVPR 2015, arXiv:1411.4038 (and the released Caffe models,
``voc-fcn{32,16,8}s``).

VGG-16 (configuration D) is *convolutionalised*: fc6 becomes a 7×7
convolution with 4,096 maps, fc7 a 1×1 convolution, and the 1,000-way fc8 is
replaced by ``score_fr``, a 1×1 convolution to ``num_classes`` scores
(PASCAL VOC: 21). The coarse score map (stride 32) is upsampled back to the
image by a transposed convolution (§3.3), and the finer variants fuse scores
from earlier pooling layers (§4.2, figure 3)::

    FCN-32s  score_fr ──────────────────────────── ×32 → crop 19
    FCN-16s  score_fr ×2 + score_pool4 (crop 5) ─── ×16 → crop 27
    FCN-8s   (score_fr ×2 + score_pool4 (crop 5)) ×2 + score_pool3 (crop 9) ── ×8 → crop 31

Parameters with 21 classes: 134,346,581 (32s), 134,364,410 (16s),
134,376,863 (8s) — the paper's "134M" (table 1).

Layout details taken from the released models, which the paper leaves
implicit:

* ``conv1_1`` pads by 100 pixels and every pooling rounds up (Caffe's
  ``ceil`` mode), so that fc6's 7×7 window fits any input, however small
  (``min_size`` is 1), and the score map covers the whole image. The crop
  offsets 19 / 5, 27 / 5, 9, 31 are the ones Caffe's ``Crop`` layer computes
  for that layout; the output is exactly the input's size.
* Upsampling layers have no bias and start as bilinear interpolation. As in
  the paper, the ×2 layers are learned and the final ×32/×16/×8 layer is
  fixed (a buffer, not a parameter: the paper's counts leave it out). The
  released models fix the ×2 layers too; they found learning them made
  little difference.
* The class-scoring layers (``score_fr``, ``score_pool4``, ``score_pool3``)
  start at zero, as in the paper (§4.1, §4.2): the skip branches then begin by
  leaving the coarser net's predictions unchanged. The backbone and fc6/fc7
  use VGG's initialisation; :func:`fcn_from_vgg` copies a trained VGG-16 in
  instead, which is how the paper starts.
* The paper trains FCN-16s from FCN-32s and FCN-8s from FCN-16s (staged); the
  "at-once" released variant scales pool4/pool3 by 0.01/0.0001. We build the
  staged networks; ``stage_from(coarser)`` copies a trained coarser net in.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cnnzoo.layers.input_check import check_input_size
from cnnzoo.layers.upsample import BilinearUpsample
from cnnzoo.models.interface import ClassifierInterface
from cnnzoo.models.vgg import VGG, vgg_features
from cnnzoo.registry import register_model

__all__ = ["FCN", "fcn8s", "fcn16s", "fcn32s", "fcn_from_vgg"]

PAD = 100
# Caffe Crop offsets for the padded layout: (score_pool4, score_pool3, final).
_CROPS = {32: (None, None, 19), 16: (5, None, 27), 8: (5, 9, 31)}


def _crop(x: Tensor, offset: int, size: tuple[int, int]) -> Tensor:
    h, w = size
    return x[..., offset : offset + h, offset : offset + w]


def _width(maps: int, width_mult: float) -> int:
    return max(1, round(maps * width_mult))


def _narrowed(features: nn.Sequential, width_mult: float, in_chans: int) -> nn.Sequential:
    """VGG's layers with every convolution's maps scaled by ``width_mult`` (same names, fresh Xavier weights)."""
    out, c = nn.Sequential(), in_chans
    for name, m in features.named_children():
        if isinstance(m, nn.Conv2d):
            maps = _width(m.out_channels, width_mult)
            m = nn.Conv2d(c, maps, m.kernel_size, padding=m.padding, bias=m.bias is not None)
            nn.init.xavier_uniform_(m.weight)  # VGG's initialisation, as vgg_features draws it
            if m.bias is not None:
                nn.init.zeros_(m.bias)
            c = maps
        elif isinstance(m, nn.BatchNorm2d):
            m = nn.BatchNorm2d(c)
        out.add_module(name, m)
    return out


class FCN(ClassifierInterface, nn.Module):
    """FCN on VGG-16: ``(N, in_chans, H, W) -> (N, num_classes, H, W)`` for any ``H, W >= 1``.

    Args:
        stride: 32, 16 or 8 — FCN-32s, FCN-16s, FCN-8s.
        num_classes: score maps (21 for PASCAL VOC: 20 classes and background).
        in_chans: input channels.
        drop_rate: dropout after fc6 and fc7 (0.5, as VGG).
        width_mult: scales every layer's maps (1: the paper's; 1/8 trains on a
            CPU). Not in the paper, which starts from a trained VGG-16.
        batch_norm: VGG-16 with batch normalisation after every convolution
            (not in the paper; a narrow FCN trained from scratch needs it, as
            the U-Net does, ``docs/segmentation.md``).

    The split into ``forward_features`` and ``forward_head``: the features are
    fc7's map, ``(N, 4096, h, w)`` (stride 32), the last map before any layer
    that sees the classes; the head scores it (``score_fr``), fuses the scores
    of pool4 and pool3 (``score_pool4``, ``score_pool3``) and upsamples and
    crops to the input's size. Those skip maps and that size are not in fc7's
    map, so ``forward_features`` keeps them on the model for the
    ``forward_head`` call that follows (which takes them: one head per
    features call, and no ``forward_features`` from another thread in
    between). ``forward`` itself keeps nothing.
    """

    # score_pool4 and score_pool3 score the skip maps: output layers too.
    classifier_names = ("score_fr", "score_pool4", "score_pool3")
    class_sized_names = ("upscore2", "upscore_pool4", "upscore")

    def __init__(self, stride: int = 8, num_classes: int = 21, in_chans: int = 3, drop_rate: float = 0.5,
                 width_mult: float = 1.0, batch_norm: bool = False) -> None:  # fmt: skip
        super().__init__()
        if stride not in _CROPS:
            raise ValueError(f"stride must be 32, 16 or 8 (FCN-32s/16s/8s); got {stride}")
        if not 0 < width_mult <= 1:
            raise ValueError(f"width_mult must be in (0, 1]; got {width_mult}")
        self.stride, self.in_chans, self.name = stride, in_chans, f"fcn{stride}s"
        self.features = vgg_features("D", batch_norm=batch_norm, in_chans=in_chans)
        if width_mult != 1.0:
            self.features = _narrowed(self.features, width_mult, in_chans)
        self.features.conv1_1.padding = (PAD, PAD)
        c3, c5, fc_maps = _width(256, width_mult), _width(512, width_mult), _width(4096, width_mult)
        for m in self.features:
            if isinstance(m, nn.MaxPool2d):
                m.ceil_mode = True
        fc = nn.Sequential()
        fc.add_module("fc6", nn.Conv2d(c5, fc_maps, 7))
        fc.add_module("relu6", nn.ReLU(inplace=True))
        fc.add_module("drop6", nn.Dropout(drop_rate))
        fc.add_module("fc7", nn.Conv2d(fc_maps, fc_maps, 1))
        fc.add_module("relu7", nn.ReLU(inplace=True))
        fc.add_module("drop7", nn.Dropout(drop_rate))
        for m in fc:
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight)  # VGG's initialisation
                nn.init.zeros_(m.bias)
        self.fc = fc
        self.score_fr = nn.Conv2d(fc_maps, num_classes, 1)
        scores = [self.score_fr]
        if stride <= 16:
            self.score_pool4 = nn.Conv2d(c5, num_classes, 1)
            self.upscore2 = BilinearUpsample(num_classes, 2, padding=0)
            scores.append(self.score_pool4)
        if stride == 8:
            self.score_pool3 = nn.Conv2d(c3, num_classes, 1)
            self.upscore_pool4 = BilinearUpsample(num_classes, 2, padding=0)
            scores.append(self.score_pool3)
        self.upscore = BilinearUpsample(num_classes, stride, padding=0, learnable=False)
        self.reset_head()

    def reset_head(self) -> None:
        """Zero the class-scoring layers and set every upsampling layer to bilinear interpolation."""
        with torch.no_grad():
            for name in ("score_fr", "score_pool4", "score_pool3"):
                if hasattr(self, name):
                    nn.init.zeros_(getattr(self, name).weight)
                    nn.init.zeros_(getattr(self, name).bias)
            for m in self.modules():
                if isinstance(m, BilinearUpsample):
                    m.reset_parameters()

    def reset_classifier(self, num_classes: int) -> None:
        """New scoring layers for ``num_classes``, and new upsampling layers (as wide as the classes).

        As when the network is built, the scoring layers start at zero and the
        upsampling layers as bilinear interpolation.
        """
        super().reset_classifier(num_classes)
        for name in ("upscore2", "upscore_pool4", "upscore"):
            old = getattr(self, name, None)
            if old is not None:
                new = BilinearUpsample(num_classes, old.factor, padding=old.padding, learnable=old.learnable)
                setattr(self, name, new.to(device=old.weight.device, dtype=old.weight.dtype))
        self.reset_head()

    def _trunk(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """fc7's map and the pool3 and pool4 maps the skips score."""
        check_input_size(x, 1, self.name, self.in_chans)
        pools: dict[str, Tensor] = {}
        h = x
        for name, layer in self.features.named_children():
            h = layer(h)
            if name in ("pool3", "pool4"):
                pools[name] = h  # N x 256 x ~(H+198)/8, N x 512 x ~(H+198)/16
        return self.fc(h), pools  # N x 4096 x ~(H+6)/32

    def _scores(self, features: Tensor, pools: dict[str, Tensor], size: tuple[int, int]) -> Tensor:
        """Score fc7's map, fuse the skips' scores, upsample and crop to ``size``."""
        score = self.score_fr(features)  # N x K x ~(H+6)/32
        crop4, crop3, crop_out = _CROPS[self.stride]
        if crop4 is not None:
            up = self.upscore2(score)
            score = up + _crop(self.score_pool4(pools["pool4"]), crop4, up.shape[-2:])  # stride 16
        if crop3 is not None:
            up = self.upscore_pool4(score)
            score = up + _crop(self.score_pool3(pools["pool3"]), crop3, up.shape[-2:])  # stride 8
        return _crop(self.upscore(score), crop_out, size)  # N x K x H x W

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, in_chans, H, W) -> (N, 4096, h, w)``: VGG-16's convolutions, fc6 and fc7.

        Keeps the pool3/pool4 maps and ``(H, W)`` for the next :meth:`forward_head`.
        """
        features, pools = self._trunk(x)
        self._pending_head = (features.shape, pools, x.shape[-2:])
        return features

    def forward_head(self, features: Tensor) -> Tensor:
        """``(N, 4096, h, w) -> (N, num_classes, H, W)``: scores, skip fusion, upsampling, crop."""
        pending = self.__dict__.pop("_pending_head", None)
        if pending is None or pending[0] != features.shape:
            raise ValueError(
                f"{self.name}.forward_head also needs the pool3/pool4 maps and input size of the "
                "forward_features call that made these features; call forward_features just "
                "before it (or forward)"
            )
        return self._scores(features, pending[1], pending[2])

    def forward(self, x: Tensor) -> Tensor:
        features, pools = self._trunk(x)
        return self._scores(features, pools, x.shape[-2:])

    def stage_from(self, coarser: FCN) -> FCN:
        """Copy every layer a coarser FCN shares with this one (FCN-32s → 16s → 8s training)."""
        own = self.state_dict()
        shared = {k: v for k, v in coarser.state_dict().items() if k in own and own[k].shape == v.shape}
        self.load_state_dict(shared, strict=False)
        return self


def fcn_from_vgg(vgg: VGG, stride: int = 8, num_classes: int = 21) -> FCN:
    """An FCN whose backbone and fc6/fc7 are those of a (trained) VGG-16, convolutionalised.

    The paper's starting point (§4.1): "decapitate" the classifier (drop fc8)
    and run fc6/fc7 as convolutions, with the weights reshaped as
    :func:`cnnzoo.layers.fc_to_conv.linear_to_conv` does. The FCN is built
    without initialising what the copy overwrites (fc6 alone holds 103M
    weights); the scoring and upsampling layers start as in :class:`FCN`.
    """
    if getattr(vgg, "config", None) != "D" or any(isinstance(m, nn.BatchNorm2d) for m in vgg.features.modules()):
        raise ValueError("fcn_from_vgg needs a VGG-16 without batch norm (cnnzoo.create('vgg16'))")
    device = vgg.classifier.fc6.weight.device
    with torch.device("meta"):
        fcn = FCN(stride, num_classes, vgg.in_chans, drop_rate=vgg.classifier.drop6.p)
    fcn = fcn.to_empty(device=device)
    with torch.no_grad():
        fcn.features.load_state_dict(vgg.features.state_dict())
        for name in ("fc6", "fc7"):
            fc, conv = getattr(vgg.classifier, name), getattr(fcn.fc, name)
            conv.weight.copy_(fc.weight.reshape(conv.weight.shape))  # torch.flatten's (C, k, k) order
            conv.bias.copy_(fc.bias)
    fcn.reset_head()
    return fcn.train(vgg.training)


_PAPER = "Long, Shelhamer & Darrell 2015, arXiv:1411.4038"
_COMMON = dict(
    family="FCN",
    paper=_PAPER,
    year=2015,
    input_size=(3, 500, 500),  # PASCAL VOC images are at most 500 pixels a side
    min_size=1,
    params="~134M",
    table="table 1",
    task="segmentation",
)


@register_model(**_COMMON)
def fcn32s(**kwargs) -> FCN:
    """FCN-32s: VGG-16 scores upsampled ×32 in one step; 134M parameters (21 classes)."""
    return FCN(32, **kwargs)


@register_model(**_COMMON)
def fcn16s(**kwargs) -> FCN:
    """FCN-16s: fuses pool4 scores before a ×16 upsampling; 134M parameters (21 classes)."""
    return FCN(16, **kwargs)


@register_model(**_COMMON)
def fcn8s(**kwargs) -> FCN:
    """FCN-8s: fuses pool4 and pool3 scores before a ×8 upsampling; 134M parameters (21 classes)."""
    return FCN(8, **kwargs)
