"""Inception-v4, Inception-ResNet-v1 and Inception-ResNet-v2.

C. Szegedy, S. Ioffe, V. Vanhoucke, A. Alemi, "Inception-v4, Inception-ResNet
and the Impact of Residual Connections on Learning", AAAI 2017, arXiv:1602.07261.

Reproduces figures 9 (Inception-v4) and 15 (Inception-ResNet), at 299×299:

=================  ==============  =====================  =====================
stage              Inception-v4    Inception-ResNet-v1    Inception-ResNet-v2
=================  ==============  =====================  =====================
stem → 35×35       fig. 3, 384     fig. 14, 256           fig. 3, 384
35×35 blocks       4 × A (fig. 4)  5 × IR-A (fig. 10)     5 × IR-A (fig. 16)
Reduction-A        k,l,m,n = 192, 224, 256, 384 / 192, 192, 256, 384 / 256, 256, 384, 384
17×17 blocks       7 × B (fig. 5)  10 × IR-B (fig. 11)    10 × IR-B (fig. 17)
Reduction-B        fig. 8, 1536    fig. 12, 1792          fig. 18, 2144
8×8 blocks         3 × C (fig. 6)  5 × IR-C (fig. 13)     5 × IR-C (fig. 19)
head               average pooling, dropout (keep 0.8), fully connected, softmax
=================  ==============  =====================  =====================

Parameters: Inception-v4 42,679,816 (42.7M), Inception-ResNet-v1 22,756,328.
The paper prints no parameter count for Inception-ResNet-v1, and its registry
entry carries none: we follow its figures 10–14.

Inception-ResNet-v2: the figures and the authors' released network differ.

* ``layout="released"`` (the default) is the authors' TF-slim network: the
  one the paper's text describes (its raw cost matches Inception-v4's, as
  the text says), the one every published checkpoint holds and the 55.8M count quoted
  everywhere (55,843,464 here): an Inception-v3-style stem with a
  320-channel "Mixed_5b" block, 10/20/10 residual blocks at widths
  320/1088/2080, no ReLU after the last block, a 1×1 convolution to 1536
  channels before the pooling, and the reductions' max pooling concatenated
  last (figures 7 and 18 draw it first).
* ``layout="paper"`` is figure 15 as printed: the Inception-v4 stem, 5/10/5
  residual blocks. Two widths in the figures cannot be right as printed
  (figure 17 closes with 1154 channels where Reduction-A hands over
  384 + 384 + 384 = 1152; figure 19 with 2048 where Reduction-B hands over
  2144); a residual block must return its input width, so we use 1152 and
  2144. 32,433,928 parameters, well below Inception-v4's, so the figures
  cannot be the network the text and its results describe.

Residual scaling (§3.3, ``residual_scale``): each residual is multiplied by a
constant before it is added, to keep very wide residual Inception networks from
"dying"; the paper uses 0.1–0.3, and we default to the released code's 0.17
(35×35), 0.10 (17×17) and 0.20 (8×8).

Initialisation: the paper does not say; the authors' TF-slim code uses slim's
default, Glorot-uniform weights and zero biases, and so do we.
"""

from __future__ import annotations

from torch import Tensor, nn

from cnnzoo.layers.inception_v4_blocks import (
    InceptionA,
    InceptionB,
    InceptionC,
    InceptionResNetA,
    InceptionResNetB,
    InceptionResNetC,
    InceptionResNetReductionB,
    InceptionResNetV1Stem,
    InceptionResNetV2ReleasedStem,
    InceptionV4Stem,
    ReductionA,
    ReductionB,
    conv,
)
from cnnzoo.layers.input_check import check_input_size
from cnnzoo.models.interface import ClassifierInterface
from cnnzoo.registry import register_model

__all__ = ["InceptionResNet", "InceptionV4", "inception_resnet_v1", "inception_resnet_v2", "inception_v4"]

# The smallest input every stride-2 valid convolution of the stems and the two
# reductions still accepts (the feature map reaches 1×1 at the 8×8 stage).
MIN_SIZE = 75


def _init_glorot(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class _Head(nn.Sequential):
    """Global average pooling (the paper's 8×8 pooling at 299), dropout, fully connected."""

    def __init__(self, in_chans: int, num_classes: int, drop_rate: float) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.dropout = nn.Dropout(drop_rate)
        self.fc = nn.Linear(in_chans, num_classes)


class InceptionV4(ClassifierInterface, nn.Module):
    """Inception-v4 (figure 9): ``(N, in_chans, 299, 299) -> (N, num_classes)``.

    Any input of at least 75×75 works; the head pools globally, which is the
    paper's 8×8 average pooling at 299×299.

    Args:
        num_classes: classifier outputs.
        in_chans: input channels.
        drop_rate: dropout before the classifier (the paper keeps 0.8).
        layout: ``"paper"`` (figures 3–9) or ``"released"``: the authors'
            TF-slim network behind the published checkpoint (timm's
            ``inception_v4``), which concatenates every pooling branch last
            and orders some 1×7/7×1 and 1×3/3×1 pairs the other way round
            (stem, Inception-B's double tower, Inception-C's tower).
    """

    classifier_names = ("head.fc",)

    def __init__(
        self, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.2, layout: str = "paper"
    ) -> None:
        super().__init__()
        if layout not in ("paper", "released"):
            raise ValueError(f"inception_v4: layout must be 'paper' or 'released'; got {layout!r}")
        r = layout == "released"
        self.in_chans = in_chans
        self.stem = InceptionV4Stem(in_chans, released=r)
        self.stage_a = nn.Sequential(*[InceptionA(384, released=r) for _ in range(4)])
        self.reduction_a = ReductionA(384, k=192, l=224, m=256, n=384, pool_last=r)
        self.stage_b = nn.Sequential(*[InceptionB(1024, released=r) for _ in range(7)])
        self.reduction_b = ReductionB(1024, pool_last=r)
        self.stage_c = nn.Sequential(*[InceptionC(1536, released=r) for _ in range(3)])
        self.head = _Head(1536, num_classes, drop_rate)
        _init_glorot(self)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, in_chans, H, W) -> (N, 1536, h, w)``: stem to the last Inception-C (8×8 at 299×299)."""
        check_input_size(x, MIN_SIZE, "inception_v4", self.in_chans)
        x = self.stage_a(self.stem(x))  # N x 384 x 35 x 35
        x = self.stage_b(self.reduction_a(x))  # N x 1024 x 17 x 17
        return self.stage_c(self.reduction_b(x))  # N x 1536 x 8 x 8

    def forward_head(self, features: Tensor) -> Tensor:
        """``(N, 1536, h, w) -> (N, num_classes)``: global average pool, dropout, fc."""
        return self.head(features)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def _scales(residual_scale: float | tuple[float, float, float]) -> tuple[float, float, float]:
    if isinstance(residual_scale, (int, float)):
        return (float(residual_scale),) * 3
    scales = tuple(float(s) for s in residual_scale)
    if len(scales) != 3:
        raise ValueError(
            f"residual_scale must be one number or three (35×35, 17×17, 8×8 blocks); got {residual_scale!r}"
        )
    return scales  # type: ignore[return-value]


class InceptionResNet(ClassifierInterface, nn.Module):
    """Inception-ResNet-v1/v2 (figure 15): ``(N, in_chans, 299, 299) -> (N, num_classes)``.

    Any input of at least 75×75 works; the head pools globally.

    Args:
        version: 1 or 2.
        num_classes: classifier outputs.
        in_chans: input channels.
        layout: for v2, ``"released"`` (the default: the authors' TF-slim
            network) or ``"paper"`` (figure 15 as printed; see the module
            docstring); v1 has only ``"paper"``. ``None`` picks the default.
        residual_scale: factor on each residual before the addition, one
            number or one per stage (35×35, 17×17, 8×8).
        drop_rate: dropout before the classifier (the paper keeps 0.8).
    """

    classifier_names = ("head.fc",)

    def __init__(
        self,
        version: int = 2,
        num_classes: int = 1000,
        in_chans: int = 3,
        layout: str | None = None,
        residual_scale: float | tuple[float, float, float] = (0.17, 0.10, 0.20),
        drop_rate: float = 0.2,
    ) -> None:
        super().__init__()
        if version not in (1, 2):
            raise ValueError(f"Inception-ResNet version must be 1 or 2; got {version!r}")
        if layout is None:
            layout = "released" if version == 2 else "paper"
        if layout not in ("paper", "released") or (version == 1 and layout != "paper"):
            allowed = "'paper' or 'released'" if version == 2 else "'paper'"
            raise ValueError(f"inception_resnet_v{version}: layout must be {allowed}; got {layout!r}")
        sa, sb, sc = _scales(residual_scale)
        self.in_chans = in_chans
        self.name = f"inception_resnet_v{version}"
        final: nn.Module = nn.Identity()
        if version == 1:
            self.stem: nn.Module = InceptionResNetV1Stem(in_chans)
            c, (ra, rb, rc) = 256, (5, 10, 5)
            tower, widths_b, widths_c = (32, 32), (128, 128, 128, 128), (192, 192)
            kl_mn, red_b = (192, 192, 256, 384), (384, 256, 256)
        else:
            if layout == "paper":
                self.stem = InceptionV4Stem(in_chans)
                c, (ra, rb, rc) = 384, (5, 10, 5)
            else:
                self.stem = InceptionResNetV2ReleasedStem(in_chans)
                c, (ra, rb, rc) = 320, (10, 20, 10)
            tower, widths_b, widths_c = (48, 64), (192, 128, 160, 192), (224, 256)
            kl_mn, red_b = (256, 256, 384, 384), (384, 288, 320)
        self.stage_a = nn.Sequential(*[InceptionResNetA(c, tower, sa) for _ in range(ra)])
        released = layout == "released"  # its reductions concatenate the pooling last
        self.reduction_a = ReductionA(c, *kl_mn, pool_last=released)
        c = self.reduction_a.out_chans
        self.stage_b = nn.Sequential(*[InceptionResNetB(c, widths_b, sb) for _ in range(rb)])
        self.reduction_b = InceptionResNetReductionB(c, *red_b, pool_last=released)
        c = self.reduction_b.out_chans
        blocks_c = [InceptionResNetC(c, widths_c, sc) for _ in range(rc - 1)]
        if layout == "released":
            blocks_c.append(InceptionResNetC(c, widths_c, 1.0, act=False))
            final = conv(c, 1536, 1)
            c_head = 1536
        else:
            blocks_c.append(InceptionResNetC(c, widths_c, sc))
            c_head = c
        self.stage_c = nn.Sequential(*blocks_c)
        self.final_conv = final
        self.head = _Head(c_head, num_classes, drop_rate)
        _init_glorot(self)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, in_chans, H, W) -> (N, C, h, w)``: stem to the last block (and the released 1×1 to 1536)."""
        check_input_size(x, MIN_SIZE, self.name, self.in_chans)
        x = self.stage_a(self.stem(x))  # N x 256 (v1) / 384 (v2) x 35 x 35
        x = self.stage_b(self.reduction_a(x))  # N x 896 / 1152 x 17 x 17
        x = self.stage_c(self.reduction_b(x))  # N x 1792 / 2144 x 8 x 8
        return self.final_conv(x)

    def forward_head(self, features: Tensor) -> Tensor:
        """``(N, C, h, w) -> (N, num_classes)``: global average pool, dropout, fc."""
        return self.head(features)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


@register_model(
    family="Inception",
    paper="Szegedy et al. 2017, arXiv:1602.07261",
    year=2017,
    input_size=(3, 299, 299),
    min_size=MIN_SIZE,
    params="42.7M",
    macs="12.3G",
)
def inception_v4(**kwargs) -> InceptionV4:
    """Inception-v4 (figure 9): 42.7M parameters, 12.3G MACs at 299×299."""
    return InceptionV4(**kwargs)


@register_model(
    family="Inception",
    paper="Szegedy et al. 2017, arXiv:1602.07261",
    year=2017,
    input_size=(3, 299, 299),
    min_size=MIN_SIZE,
    no_reference="the paper prints no parameter or multiply-add count for "
    "Inception-ResNet-v1; figures 10-14 add up to 22,756,328 parameters",
)
def inception_resnet_v1(**kwargs) -> InceptionResNet:
    """Inception-ResNet-v1 (figures 10–15): about Inception-v3's cost."""
    return InceptionResNet(version=1, **kwargs)


@register_model(
    family="Inception",
    paper="Szegedy et al. 2017, arXiv:1602.07261",
    year=2017,
    input_size=(3, 299, 299),
    min_size=MIN_SIZE,
    params="55.8M",
    macs="13.2G",
    # 55.8M and 13.2G are the authors' released network (the default layout).
)
def inception_resnet_v2(**kwargs) -> InceptionResNet:
    """Inception-ResNet-v2: the released network (55.8M; default) or figure 15 (``layout="paper"``)."""
    return InceptionResNet(version=2, **kwargs)
