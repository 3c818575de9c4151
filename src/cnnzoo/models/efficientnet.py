"""EfficientNet B0–B7.

M. Tan, Q. V. Le, "EfficientNet: Rethinking Model Scaling for Convolutional
Neural Networks", ICML 2019, arXiv:1905.11946.

B0 is table 1 of the paper: a 3×3 stem of 32 channels with stride 2, seven
stages of MBConv blocks (``layers/inverted_residual.py``: expansion ``t``,
depthwise ``k×k``, squeeze-and-excitation, linear projection), a 1×1 conv to
1280 channels, global pooling, dropout and the classifier::

    stage  operator         resolution  channels  layers
    1      conv 3×3, /2     224²        32        1
    2      MBConv1, k3×3    112²        16        1
    3      MBConv6, k3×3    112²        24        2     (first block /2)
    4      MBConv6, k5×5    56²         40        2     (/2)
    5      MBConv6, k3×3    28²         80        3     (/2)
    6      MBConv6, k5×5    14²         112       3
    7      MBConv6, k5×5    14²         192       4     (/2)
    8      MBConv6, k3×3    7²          320       1
    9      conv 1×1, pool, FC  7²       1280      1

B1–B7 scale it with the compound coefficient (§3.3): widths by ``w``
(rounded to multiples of 8, never below 90%), the layers of every stage by
``d`` (rounded up), and the input resolution ``r``. Table 2's counts, with
the (w, d, r, dropout) of the reference implementation::

    model  w    d    r    dropout  params  FLOPs
    B0     1.0  1.0  224  0.2      5.3M    0.39B
    B1     1.0  1.1  240  0.2      7.8M    0.70B
    B2     1.1  1.2  260  0.3      9.2M    1.0B
    B3     1.2  1.4  300  0.3      12M     1.8B
    B4     1.4  1.8  380  0.4      19M     4.2B
    B5     1.6  2.2  456  0.4      30M     9.9B
    B6     1.8  2.6  528  0.5      43M     19B
    B7     2.0  3.1  600  0.5      66M     37B

Details from the reference implementation, which the paper leaves out:

* SiLU ("swish") everywhere; the SE block squeezes to a quarter of the
  *block input* width (not of the expanded width, as MobileNet v3 does) and
  gates with a sigmoid.
* Stochastic depth ("drop connect") with per-sample drop rate
  ``0.2 · i / n`` for block ``i = 0 … n−1``, so the last block survives with
  probability ≈ 0.8 (``drop_path_rate``); only blocks with an identity path
  drop.
* BatchNorm epsilon 1e-3 (TensorFlow's default); initialisation as the
  reference: convolutions normal with std ``sqrt(2 / fan_out)``, the classifier
  uniform in ``±1/sqrt(num_classes)``.

Counts. Our parameter counts equal the reference implementation's; they
match table 2 to its printed precision except B2, 9.11M against the printed
9.2M. Counting the multiply-adds of every conv and linear layer (SE
included) at each variant's resolution gives 0.386 / 0.687 / 0.994 / 1.83 /
4.39 / 10.3 / 19.1 / 37.7 G; table 2 is up to 4.5% lower for B1, B4, B5 and
B7 and does not say what its count leaves out. The registry entries carry a
relative tolerance for exactly those cases.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from cnnzoo.layers.conv_bn_act import ConvBNAct
from cnnzoo.layers.helpers import make_divisible
from cnnzoo.layers.input_check import check_input_size
from cnnzoo.layers.inverted_residual import InvertedResidual
from cnnzoo.layers.same_padding import use_same_padding_
from cnnzoo.models.interface import ClassifierInterface
from cnnzoo.registry import register_model

__all__ = ["EFFICIENTNET_B0", "EFFICIENTNET_SCALING", "EfficientNet"] + [
    f"efficientnet_b{i}" for i in range(8)
]

# Table 1 (B0): (expand ratio t, kernel k, first stride s, output channels c, layers n).
EFFICIENTNET_B0: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
# (width w, depth d, resolution r, dropout) per variant.
EFFICIENTNET_SCALING: dict[str, tuple[float, float, int, float]] = {
    "b0": (1.0, 1.0, 224, 0.2),
    "b1": (1.0, 1.1, 240, 0.2),
    "b2": (1.1, 1.2, 260, 0.3),
    "b3": (1.2, 1.4, 300, 0.3),
    "b4": (1.4, 1.8, 380, 0.4),
    "b5": (1.6, 2.2, 456, 0.4),
    "b6": (1.8, 2.6, 528, 0.5),
    "b7": (2.0, 3.1, 600, 0.5),
}


class EfficientNet(ClassifierInterface, nn.Module):
    """EfficientNet: ``(N, in_chans, H, W) -> (N, num_classes)``, any ``H, W ≥ 32``.

    Args:
        width_mult: ``w``, multiplier on every width (stem and head included).
        depth_mult: ``d``, multiplier on the number of blocks of every stage.
        name: registry name, for error messages.
        num_classes: classifier outputs.
        in_chans: input channels.
        dropout: before the classifier.
        drop_path_rate: stochastic-depth drop rate of the last block (0.2); 0 disables it.
        bn_eps: BatchNorm epsilon of every layer. 1e-3 is the paper's TensorFlow
            code (and timm's weights); torchvision's EfficientNet weights were
            trained with PyTorch's default 1e-5, so ``cnnzoo.weights`` sets it
            when it imports them.
        tf_padding: pad the five strided convolutions as TensorFlow's "same"
            (``layers/same_padding.py``: the odd pixel at the bottom/right), as
            the paper's TF code does; timm's ``tf_efficientnet_*`` weights need
            it. The default pads ``k // 2`` on every side, as torchvision and timm's
            ``efficientnet_*`` do.
    """

    min_size = 32
    classifier_names = ("fc",)

    def __init__(
        self,
        width_mult: float = 1.0,
        depth_mult: float = 1.0,
        name: str = "efficientnet",
        num_classes: int = 1000,
        in_chans: int = 3,
        dropout: float = 0.2,
        drop_path_rate: float = 0.2,
        bn_eps: float = 1e-3,
        tf_padding: bool = False,
    ) -> None:
        super().__init__()
        if width_mult <= 0 or depth_mult <= 0:
            raise ValueError(
                f"width_mult and depth_mult must be positive; got {width_mult} and {depth_mult}"
            )
        if not 0.0 <= drop_path_rate < 1.0:
            raise ValueError(f"drop_path_rate must be in [0, 1); got {drop_path_rate}")
        self.name, self.in_chans = name, in_chans
        if not 0.0 < bn_eps < 1.0:
            raise ValueError(f"bn_eps must be in (0, 1); got {bn_eps}")
        eps = bn_eps
        c = make_divisible(32 * width_mult)
        self.stem = ConvBNAct(in_chans, c, 3, 2, act=nn.SiLU, bn_eps=eps)
        repeats = [math.ceil(n * depth_mult) for *_, n in EFFICIENTNET_B0]
        total, index = sum(repeats), 0
        self.blocks = nn.Sequential()
        for i, ((t, k, s, out, _), n) in enumerate(zip(EFFICIENTNET_B0, repeats, strict=True)):
            out = make_divisible(out * width_mult)
            stage = nn.Sequential()
            for j in range(n):
                cin = c if j == 0 else out
                stage.add_module(
                    str(j),
                    InvertedResidual(
                        cin, out, s if j == 0 else 1, t, kernel_size=k, act=nn.SiLU,
                        se_channels=max(1, int(cin * 0.25)), se_act=nn.SiLU, se_gate=nn.Sigmoid,
                        survival=1.0 - drop_path_rate * index / total, bn_eps=eps,
                    ),
                )  # fmt: skip
                index += 1
            self.blocks.add_module(f"stage{i + 1}", stage)
            c = out
        head = make_divisible(1280 * width_mult)
        self.head = ConvBNAct(c, head, 1, act=nn.SiLU, bn_eps=eps)
        self.num_features, self.num_classes = head, num_classes
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(head, num_classes)
        if tf_padding:
            use_same_padding_(self)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                bound = 1.0 / math.sqrt(m.out_features)
                nn.init.uniform_(m.weight, -bound, bound)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, in_chans, H, W) -> (N, 1280w, H/32, W/32)``.

        ``head`` (the 1×1 conv to 1280w channels) acts before pooling, so it is
        part of the features, as in timm.
        """
        check_input_size(x, self.min_size, self.name, self.in_chans)
        x = self.stem(x)  # N x 32w x H/2 x W/2
        x = self.blocks(x)  # N x 320w x H/32 x W/32
        return self.head(x)  # N x 1280w x H/32 x W/32

    def forward_head(self, features: Tensor) -> Tensor:
        """``(N, 1280w, h, w) -> (N, num_classes)``: pool, dropout, fc."""
        x = torch.flatten(self.pool(features), 1)
        return self.fc(self.dropout(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def _build(variant: str, **kwargs) -> EfficientNet:
    w, d, _, dropout = EFFICIENTNET_SCALING[variant]
    kwargs.setdefault("dropout", dropout)
    return EfficientNet(w, d, f"efficientnet_{variant}", **kwargs)


_PAPER = "Tan & Le 2019, arXiv:1905.11946"


@register_model(
    family="EfficientNet",
    paper=_PAPER,
    year=2019,
    input_size=(3, 224, 224),
    table="table 2",
    min_size=32,
    params="5.3M",
    macs="0.39G",
    test_size=(3, 32, 32),
)
def efficientnet_b0(**kwargs) -> EfficientNet:
    """EfficientNet-B0 (w=1.0, d=1.0, 224×224): 5.3M parameters, 0.39G FLOPs in table 2."""
    return _build("b0", **kwargs)


@register_model(
    family="EfficientNet",
    paper=_PAPER,
    year=2019,
    input_size=(3, 240, 240),
    table="table 2",
    min_size=32,
    params="7.8M",
    macs="0.70G",
    macs_rtol=0.02,  # 0.687G counted; see the module docstring
    test_size=(3, 32, 32),
)
def efficientnet_b1(**kwargs) -> EfficientNet:
    """EfficientNet-B1 (w=1.0, d=1.1, 240×240): 7.8M parameters, 0.70G FLOPs in table 2."""
    return _build("b1", **kwargs)


@register_model(
    family="EfficientNet",
    paper=_PAPER,
    year=2019,
    input_size=(3, 260, 260),
    table="table 2",
    min_size=32,
    params="9.2M",
    params_rtol=0.01,  # 9.11M, as the reference code; table 2 prints 9.2M
    macs="1.0G",
    test_size=(3, 32, 32),
)
def efficientnet_b2(**kwargs) -> EfficientNet:
    """EfficientNet-B2 (w=1.1, d=1.2, 260×260): 9.2M parameters, 1.0G FLOPs in table 2."""
    return _build("b2", **kwargs)


@register_model(
    family="EfficientNet",
    paper=_PAPER,
    year=2019,
    input_size=(3, 300, 300),
    table="table 2",
    min_size=32,
    params="12M",
    macs="1.8G",
    test_size=(3, 32, 32),
)
def efficientnet_b3(**kwargs) -> EfficientNet:
    """EfficientNet-B3 (w=1.2, d=1.4, 300×300): 12M parameters, 1.8G FLOPs in table 2."""
    return _build("b3", **kwargs)


@register_model(
    family="EfficientNet",
    paper=_PAPER,
    year=2019,
    input_size=(3, 380, 380),
    table="table 2",
    min_size=32,
    params="19M",
    macs="4.2G",
    macs_rtol=0.05,  # 4.39G counted; see the module docstring
    test_size=(3, 32, 32),
)
def efficientnet_b4(**kwargs) -> EfficientNet:
    """EfficientNet-B4 (w=1.4, d=1.8, 380×380): 19M parameters, 4.2G FLOPs in table 2."""
    return _build("b4", **kwargs)


@register_model(
    family="EfficientNet",
    paper=_PAPER,
    year=2019,
    input_size=(3, 456, 456),
    table="table 2",
    min_size=32,
    params="30M",
    macs="9.9G",
    macs_rtol=0.04,  # 10.27G counted; see the module docstring
    test_size=(3, 32, 32),
)
def efficientnet_b5(**kwargs) -> EfficientNet:
    """EfficientNet-B5 (w=1.6, d=2.2, 456×456): 30M parameters, 9.9G FLOPs in table 2."""
    return _build("b5", **kwargs)


@register_model(
    family="EfficientNet",
    paper=_PAPER,
    year=2019,
    input_size=(3, 528, 528),
    table="table 2",
    min_size=32,
    params="43M",
    macs="19G",
    test_size=(3, 32, 32),
)
def efficientnet_b6(**kwargs) -> EfficientNet:
    """EfficientNet-B6 (w=1.8, d=2.6, 528×528): 43M parameters, 19G FLOPs in table 2."""
    return _build("b6", **kwargs)


@register_model(
    family="EfficientNet",
    paper=_PAPER,
    year=2019,
    input_size=(3, 600, 600),
    table="table 2",
    min_size=32,
    params="66M",
    macs="37G",
    macs_rtol=0.025,  # 37.75G counted; see the module docstring
    test_size=(3, 32, 32),
)
def efficientnet_b7(**kwargs) -> EfficientNet:
    """EfficientNet-B7 (w=2.0, d=3.1, 600×600): 66M parameters, 37G FLOPs in table 2."""
    return _build("b7", **kwargs)
