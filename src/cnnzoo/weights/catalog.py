"""Which source checkpoints import into which cnnzoo model, with which options.

Every entry is one source model: its library (``torchvision``, ``timm``), its
name there, the cnnzoo model and keyword arguments that reproduce it, the
input normalisation its weights were trained with, and the preparation steps
its tensors need. The options are set from the source, never guessed from
tensor shapes: torchvision's and timm's ResNet-50/101/152 are "v1.5" (stride on
the 3×3), which has exactly the shapes of the paper's v1, so only this table
can tell them apart.

Sources whose architecture is not the paper's are refused by name (``REFUSED``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cnnzoo.weights.errors import WeightsError

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "REFUSED", "SOURCES", "SourceModel", "find_source"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INCEPTION_MEAN = (0.5, 0.5, 0.5)  # Inception/Xception preprocessing: x / 127.5 - 1
INCEPTION_STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class SourceModel:
    """One importable source model (see the module docstring)."""

    source: str
    name: str
    model: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    size: int = 224
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    drop: tuple[str, ...] = ()  # source key prefixes with no counterpart (auxiliary heads)
    fold_conv_bias: bool = False  # conv bias before BN: moved into the BN's running mean
    shortcut_last: tuple[str, ...] = ()  # name parts of shortcut tensors the source creates before its block's body
    note: str = ""

    @property
    def key(self) -> str:
        return f"{self.source}-{self.name}"


_V15 = {"stride_on_3x3": True}
_BN_BIAS = {"batch_norm": True, "conv_bias": True}
_TV_BN_EPS = {"bn_eps": 1e-5}
_SKIP = (".skip.", ".skipbn.")  # Cadene's Xception port (timm's legacy_xception) creates the shortcut first  # torchvision and timm's PyTorch-trained EfficientNets


def _tv(name: str, model: str | None = None, **kw: Any) -> SourceModel:
    return SourceModel("torchvision", name, model or name, **kw)


def _timm(name: str, model: str | None = None, **kw: Any) -> SourceModel:
    return SourceModel("timm", name, model or name, **kw)


_V15_NOTE = "v1.5: stride on the 3×3"
_TV_EFFICIENTNET = {"b0": 224, "b1": 240, "b2": 288, "b3": 300, "b4": 380, "b5": 456, "b6": 528, "b7": 600}
_CAFFE_SE = "the authors' Caffe model: stem pool in ceil mode without padding"
# timm's input sizes for its TF ports: the reference implementation's r (see efficientnet.py)
_TF_EFFICIENTNET = {"b0": 224, "b1": 240, "b2": 260, "b3": 300, "b4": 380, "b5": 456, "b6": 528, "b7": 600}

_ENTRIES = [
    _tv("resnet18"), _tv("resnet34"),
    *(_tv(f"resnet{d}", kwargs=_V15, note=_V15_NOTE) for d in (50, 101, 152)),
    *(_tv(n, kwargs=_V15, note=_V15_NOTE) for n in ("resnext50_32x4d", "resnext101_32x8d", "wide_resnet50_2", "wide_resnet101_2")),
    *(_tv(f"vgg{d}") for d in (11, 13, 16, 19)),
    *(_tv(f"vgg{d}_bn", f"vgg{d}", kwargs=_BN_BIAS, note="BN, with the convolutions' biases") for d in (11, 13, 16, 19)),
    *(_tv(f"densenet{d}") for d in (121, 161, 169, 201)),
    _tv("mobilenet_v2"), _tv("mobilenet_v3_large"), _tv("mobilenet_v3_small"),
    *(_tv(f"shufflenet_v2_{w}") for w in ("x0_5", "x1_0", "x1_5", "x2_0")),
    _tv("squeezenet1_0"), _tv("squeezenet1_1"),
    # torchvision trained b0–b4 in PyTorch (BN eps 1e-5); b5–b7 are ported from the TF weights (1e-3)
    *(_tv(f"efficientnet_{b}", kwargs=_TV_BN_EPS if b < "b5" else {}, size=size, note=f"BN eps {'1e-5' if b < 'b5' else '1e-3'}")
      for b, size in _TV_EFFICIENTNET.items()),
    _tv("inception_v3", kwargs={"aux_logits": False}, size=299, mean=INCEPTION_MEAN, std=INCEPTION_STD,
        drop=("AuxLogits.",), note="auxiliary head dropped; its transform_input is the 0.5/0.5 normalisation"),
    _timm("resnet50", kwargs=_V15, note=_V15_NOTE),
    _timm("efficientnet_b0", kwargs=_TV_BN_EPS, note="BN eps 1e-5"),
    # Ported from the paper's TF checkpoints: TF "same" padding at stride 2, BN eps 1e-3 (cnnzoo's default)
    *(_timm(f"tf_efficientnet_{b}", f"efficientnet_{b}", kwargs={"tf_padding": True}, size=size,
            note="TF \"same\" padding; BN eps 1e-3") for b, size in _TF_EFFICIENTNET.items()),
    _timm("inception_v3", kwargs={"aux_logits": False}, size=299, mean=INCEPTION_MEAN, std=INCEPTION_STD,
          drop=("AuxLogits.",), note="auxiliary head dropped"),
    _timm("seresnet50", "se_resnet50", kwargs=_V15, note=_V15_NOTE),
    _timm("seresnext50_32x4d", "se_resnext50_32x4d", kwargs=_V15, note=_V15_NOTE),
    *(_timm(f"legacy_seresnet{d}", f"se_resnet{d}", kwargs={"stem_pool_ceil": True}, note=_CAFFE_SE) for d in (50, 101, 152)),
    _timm("legacy_seresnext50_32x4d", "se_resnext50_32x4d", kwargs={"stem_pool_ceil": True, **_V15}, note=_CAFFE_SE),
    _timm("legacy_senet154", "senet154", kwargs={"stem_pool_ceil": True, **_V15}, note=_CAFFE_SE),
    _timm("legacy_xception", "xception", size=299, mean=INCEPTION_MEAN, std=INCEPTION_STD, shortcut_last=_SKIP),
    _timm("xception", "xception", size=299, mean=INCEPTION_MEAN, std=INCEPTION_STD, shortcut_last=_SKIP,
          note="older timm name of legacy_xception"),
    _timm("mobilenetv1_100", "mobilenet_v1", kwargs={"relu6": True}, note="ReLU6 after every BN"),
    _timm("inception_v4", kwargs={"layout": "released"}, size=299, mean=INCEPTION_MEAN, std=INCEPTION_STD,
          note="the released layout: pooling branches last, some 1×7/7×1 pairs swapped"),
    _timm("inception_resnet_v2", kwargs={"layout": "released"}, size=299, mean=INCEPTION_MEAN, std=INCEPTION_STD,
          note="the released layout (TF-slim)"),
]  # fmt: skip

SOURCES: dict[str, SourceModel] = {e.key: e for e in _ENTRIES}

REFUSED: dict[str, str] = {
    "torchvision-googlenet": "torchvision's GoogLeNet uses 3×3 convolutions in the Inception modules' "
    "\"5×5\" branches, not the paper's 5×5; cnnzoo's googlenet is the paper's network",
    "torchvision-alexnet": "torchvision's AlexNet has 64/192/384/256/256 filters (the one-GPU variant of "
    "Krizhevsky 2014), not the paper's 96/256/384/384/256",
}


def find_source(source: str, name: str) -> SourceModel:
    """The entry for ``name`` in ``source``; a one-line :class:`WeightsError` if refused or unknown."""
    key = f"{source}-{name}"
    if key in REFUSED:
        raise WeightsError(f"{source} {name} is refused: {REFUSED[key]}")
    if key not in SOURCES:
        known = sorted(e.name for e in SOURCES.values() if e.source == source)
        raise WeightsError(f"{source} model {name!r} is not supported; supported: {', '.join(known)} (see docs/weights.md)")
    return SOURCES[key]

