"""Xception.

F. Chollet, "Xception: Deep Learning with Depthwise Separable Convolutions",
CVPR 2017, arXiv:1610.02357.

Reproduces figure 5 (299×299×3 input):

* entry flow: 3×3/2 conv 32 (valid) → 3×3 conv 64 (valid) → three residual
  blocks of two separable convs and a 3×3/2 max pooling, at 128, 256 and 728
  channels, each with a 1×1/2 convolution (+ BN) on the shortcut → 19×19×728;
* middle flow: 8 × [ReLU → SeparableConv 728 → BN] × 3 with identity
  shortcuts → 19×19×728;
* exit flow: one more downsampling block (728 → 1024, shortcut 1×1/2) → 10×10,
  SeparableConv 1536 and 2048 (each BN, ReLU), global average pooling,
  dropout 0.5 (§4.3), a fully connected layer.

Every convolution and separable convolution is followed by BN. The separable
convolutions have nothing between their depthwise and pointwise parts (§4.7:
an intermediate ReLU or ELU made the network worse); ``mid_act`` puts one in to
reproduce that ablation, and ``residual=False`` the ablation of figure 9.

Parameters: 22,855,952, as Chollet's table 3 and Keras' trainable count
(Keras' total of 22,910,480 adds BN's running statistics, which PyTorch keeps
as buffers). MACs at 299×299: 8.4G.

Padding: Keras pools "same" (TensorFlow pads one pixel on the bottom/right
only when the input is even); we pad one pixel on every side, which gives the
same output sizes (147 → 74 → 37 → 19 → 10) and shifts the windows by one
pixel at even sizes. ``tf_padding=True`` pads as TensorFlow does
(``layers/same_padding.py``), which Keras's released Xception weights need.

Initialisation: the paper does not say; its Keras implementation uses Keras'
defaults, Glorot-uniform kernels and zero biases, and so do we.
"""

from __future__ import annotations

from torch import Tensor, nn

from cnnzoo.layers.conv_bn_act import ConvBNAct
from cnnzoo.layers.input_check import check_input_size
from cnnzoo.layers.same_padding import MaxPool2dSame
from cnnzoo.layers.separable_conv import SeparableConv2d
from cnnzoo.models.interface import ClassifierInterface
from cnnzoo.registry import register_model

__all__ = ["Xception", "XceptionBlock", "xception"]

_MID_ACTS: dict[str | None, type[nn.Module] | None] = {None: None, "relu": nn.ReLU, "elu": nn.ELU}

# Two valid 3×3 convs (the first strided) must leave at least one pixel.
MIN_SIZE = 7


class XceptionBlock(nn.Module):
    """``reps`` × [ReLU → SeparableConv → BN], an optional 3×3/2 max pool, plus a shortcut.

    ``(N, in_chans, H, W) -> (N, out_chans, H', W')``, ``H' = ceil(H / 2)`` if
    ``stride == 2``. The shortcut is the identity when shape is kept and a
    1×1 conv (stride ``stride``) + BN otherwise.

    Args:
        in_chans, out_chans: channels in and out.
        reps: separable convolutions in the block.
        stride: 2 ends the block with a 3×3/2 max pooling (entry and exit flows).
        widen_first: the first separable conv goes to ``out_chans`` (entry
            flow); otherwise the last one does (exit flow's 728 → 728 → 1024).
        relu_first: put a ReLU before the first separable conv (every block but
            the first, which follows the stem's ReLU).
        mid_act: non-linearity between depthwise and pointwise (ablation).
        residual: keep the shortcut (figure 9 compares with and without).
        tf_padding: pool with TensorFlow's "same" padding (Keras's weights).
    """

    def __init__(
        self,
        in_chans: int,
        out_chans: int,
        reps: int,
        stride: int = 1,
        widen_first: bool = True,
        relu_first: bool = True,
        mid_act: type[nn.Module] | None = None,
        residual: bool = True,
        tf_padding: bool = False,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_chans
        for i in range(reps):
            if widen_first:
                c_in, c_out = (in_chans if i == 0 else out_chans), out_chans
            else:
                c_in = in_chans
                c_out = out_chans if i == reps - 1 else in_chans
            if i > 0 or relu_first:
                # Not in place: the block's input is also the shortcut's.
                layers.append(nn.ReLU(inplace=i > 0))
            layers.append(SeparableConv2d(c_in, c_out, 3, mid_act=mid_act, bn=True))
            c = c_out
        if stride != 1:
            layers.append(MaxPool2dSame(3, stride) if tf_padding else nn.MaxPool2d(3, stride, padding=1))
        self.body = nn.Sequential(*layers)
        self.shortcut: nn.Module | None = None
        if residual:
            if stride != 1 or in_chans != c:
                self.shortcut = ConvBNAct(in_chans, c, 1, stride, padding=0, act=None)
            else:
                self.shortcut = nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        out = self.body(x)
        return out if self.shortcut is None else out + self.shortcut(x)


class Xception(ClassifierInterface, nn.Module):
    """Xception (figure 5): ``(N, in_chans, 299, 299) -> (N, num_classes)``.

    Any input of at least 7×7 works (global average pooling).

    Args:
        num_classes: classifier outputs.
        in_chans: input channels.
        middle_blocks: repetitions of the middle flow (8 in the paper).
        drop_rate: dropout before the classifier (0.5 in the paper, §4.3).
        mid_act: ``None`` (the paper), ``"relu"`` or ``"elu"`` between the
            depthwise and pointwise parts of every separable conv (§4.7, figure 10).
        residual: ``False`` removes every shortcut (figure 9's comparison).
        tf_padding: pad the strided max pools as TensorFlow's "same" (bottom/right
            only on even sizes), as Keras's Xception does; ``cnnzoo.weights``
            sets it when it imports Keras's weights.
    """

    classifier_names = ("head.3",)  # head: pool, flatten, dropout, fc

    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        middle_blocks: int = 8,
        drop_rate: float = 0.5,
        mid_act: str | None = None,
        residual: bool = True,
        tf_padding: bool = False,
    ) -> None:
        super().__init__()
        if mid_act not in _MID_ACTS:
            raise ValueError(f"mid_act must be None, 'relu' or 'elu'; got {mid_act!r}")
        if middle_blocks < 0:
            raise ValueError(f"middle_blocks must be >= 0; got {middle_blocks}")
        act = _MID_ACTS[mid_act]
        kw = {"mid_act": act, "residual": residual, "tf_padding": tf_padding}
        self.in_chans = in_chans
        self.stem = nn.Sequential(
            ConvBNAct(in_chans, 32, 3, stride=2, padding=0),  # N x 32 x 149 x 149
            ConvBNAct(32, 64, 3, padding=0),  # N x 64 x 147 x 147
        )
        self.entry_flow = nn.Sequential(
            XceptionBlock(64, 128, 2, stride=2, relu_first=False, **kw),  # 74 x 74
            XceptionBlock(128, 256, 2, stride=2, **kw),  # 37 x 37
            XceptionBlock(256, 728, 2, stride=2, **kw),  # 19 x 19
        )
        self.middle_flow = nn.Sequential(*[XceptionBlock(728, 728, 3, **kw) for _ in range(middle_blocks)])
        self.exit_flow = nn.Sequential(
            XceptionBlock(728, 1024, 2, stride=2, widen_first=False, **kw),  # 10 x 10
            SeparableConv2d(1024, 1536, 3, mid_act=act, bn=True, act=nn.ReLU),
            SeparableConv2d(1536, 2048, 3, mid_act=act, bn=True, act=nn.ReLU),
        )
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Dropout(drop_rate), nn.Linear(2048, num_classes)
        )
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, in_chans, H, W) -> (N, 2048, h, w)``: entry, middle and exit flows (10×10 at 299×299)."""
        check_input_size(x, MIN_SIZE, "xception", self.in_chans)
        x = self.entry_flow(self.stem(x))  # N x 728 x 19 x 19
        x = self.middle_flow(x)  # N x 728 x 19 x 19
        return self.exit_flow(x)  # N x 2048 x 10 x 10

    def forward_head(self, features: Tensor) -> Tensor:
        """``(N, 2048, h, w) -> (N, num_classes)``: global average pool, dropout, fc."""
        return self.head(features)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


@register_model(
    family="Xception",
    paper="Chollet 2017, arXiv:1610.02357",
    year=2017,
    input_size=(3, 299, 299),
    min_size=MIN_SIZE,
    params="22,855,952",
    macs="8.4G",
    table="table 3",
)
def xception(**kwargs) -> Xception:
    """Xception (figure 5): 22,855,952 parameters, 8.4G MACs at 299×299."""
    return Xception(**kwargs)
