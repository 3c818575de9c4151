"""DeepLab v1, v2 and v3: atrous convolution for semantic segmentation.

* v1 — L.-C. Chen, G. Papandreou, I. Kokkinos, K. Murphy, A. L. Yuille,
  "Semantic Image Segmentation with Deep Convolutional Nets and Fully
  Connected CRFs", ICLR 2015, arXiv:1412.7062. VGG-16 whose last two poolings
  keep the resolution (stride 1), with the layers after them dilated ("2× in
  the last three convolutional layers and 4× in the first fully connected
  layer", §3.1): output stride 8. Table 2 compares fields of view of fc6:

  ======================  ======  ============  ===============  ========
  variant                 kernel  input stride  receptive field  params
  ======================  ======  ============  ===============  ========
  DeepLab-CRF-7x7         7×7     4             224              134.3M
  DeepLab-CRF             4×4     4             128              65.1M
  DeepLab-CRF-4x4         4×4     8             224              65.1M
  DeepLab-CRF-LargeFOV    3×3     12            224              20.5M
  ======================  ======  ============  ===============  ========

  "Input stride" is fc6's dilation; "receptive field" is fc6's field of view
  on the image, ``(kernel − 1) · rate · 8 + 32`` (its taps, 8 pixels apart at
  output stride 8, plus pool5's 32-pixel cell). LargeFOV has 1,024 maps in
  fc6/fc7 instead of 4,096. ``cnnzoo.analyze`` reproduces the parameters
  exactly (21 classes) and the receptive fields up to the VGG trunk's share,
  the same for every variant (``tests/models/test_deeplab.py``).
* v2 — Chen et al., "DeepLab: Semantic Image Segmentation with Deep
  Convolutional Nets, Atrous Convolution, and Fully Connected CRFs", TPAMI
  2017, arXiv:1606.00915. ResNet-101 at output stride 8 (conv4_x dilated 2,
  conv5_x dilated 4) and ASPP-L (§3.2, figure 4): four 3×3 branches at rates
  6, 12, 18, 24, each scoring the classes, summed.
* v3 — Chen, Papandreou, Schroff, Adam, "Rethinking Atrous Convolution for
  Semantic Image Segmentation", arXiv:1706.05587. ResNet-101 at output
  stride 16 (conv5_x dilated 2) or 8, multi-grid (1, 2, 4) rates within
  conv5_x (§3.2: unit rates are the stage rate times the grid), and the
  improved ASPP (§3.3): a 1×1 and three 3×3 branches at rates 6, 12, 18
  (doubled at output stride 8) plus image pooling, 256 maps each with BN,
  fused by a 1×1 convolution, then a 1×1 convolution to the classes.

Outputs are the class scores at the output stride (8 or 16), as in the
papers, which upsample them bilinearly to the image; the segmentation task's
loss and metrics do that upsampling (``cnnzoo.train.tasks.segmentation``).
None of the papers prints a parameter count for the ResNet models; their
tests check the count as the backbone's (ResNet-101 without fc: 42.5M) plus
the head's, layer by layer. The image-pooling branch of
:class:`cnnzoo.layers.dilated.ASPP` has no BN (it would see one value per
image); the paper's has. ``deeplabv3_resnet18`` and ``deeplab_v1_tiny`` are
small configurations that train on a CPU (``docs/segmentation.md``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from cnnzoo.layers.dilated import ASPP
from cnnzoo.layers.input_check import check_input_size
from cnnzoo.models.interface import ClassifierInterface
from cnnzoo.models.resnet import ResNet
from cnnzoo.models.vgg import vgg_features
from cnnzoo.registry import create, register_model

__all__ = ["FOV_VARIANTS", "DeepLabV1", "DeepLabV2", "DeepLabV3", "dilate_stage"]

# Table 2 of v1: fc6 (kernel, rate, maps) and the paper's receptive field.
FOV_VARIANTS = {
    "7x7": (7, 4, 4096, 224),
    "deeplab": (4, 4, 4096, 128),
    "4x4": (4, 8, 4096, 224),
    "largefov": (3, 12, 1024, 224),
}


class DeepLabV1(ClassifierInterface, nn.Module):
    """DeepLab v1 on VGG-16: ``(N, in_chans, H, W) -> (N, num_classes, ⌈H/8⌉, ⌈W/8⌉)``.

    Args:
        fov: a row of table 2 — ``"7x7"``, ``"deeplab"`` (4×4, rate 4),
            ``"4x4"`` (rate 8) or ``"largefov"`` (3×3, rate 12, 1,024 maps).
        width_mult: scales every layer's maps (1: the paper's; small values make
            a network that trains on a CPU).
    """

    classifier_names = ("fc8",)

    def __init__(self, fov: str = "largefov", num_classes: int = 21, in_chans: int = 3,
                 drop_rate: float = 0.5, width_mult: float = 1.0) -> None:  # fmt: skip
        super().__init__()
        if fov not in FOV_VARIANTS:
            raise ValueError(f"fov must be one of {', '.join(FOV_VARIANTS)} (DeepLab v1 table 2); got {fov!r}")
        kernel, rate, maps, _ = FOV_VARIANTS[fov]
        self.in_chans, self.name, self.min_size = in_chans, f"deeplab_v1 ({fov})", 8
        self.features = vgg_features("D", in_chans=in_chans)
        _deeplab_vgg(self.features, width_mult)
        trunk = _last_conv(self.features).out_channels
        maps = max(1, round(maps * width_mult))
        fc = nn.Sequential()
        fc.add_module("fc6", nn.Conv2d(trunk, maps, kernel, padding=rate * (kernel - 1) // 2, dilation=rate))
        fc.add_module("relu6", nn.ReLU(inplace=True))
        fc.add_module("drop6", nn.Dropout(drop_rate))
        fc.add_module("fc7", nn.Conv2d(maps, maps, 1))
        fc.add_module("relu7", nn.ReLU(inplace=True))
        fc.add_module("drop7", nn.Dropout(drop_rate))
        self.fc = fc
        self.fc8 = nn.Conv2d(maps, num_classes, 1)
        for m in [*fc, self.fc8]:
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.01)  # the released models' Gaussian for the new layers
                nn.init.zeros_(m.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, in_chans, H, W) -> (N, maps, ⌈H/8⌉, ⌈W/8⌉)``: the atrous VGG-16, fc6 and fc7."""
        check_input_size(x, self.min_size, self.name, self.in_chans)
        return self.fc(self.features(x))

    def forward_head(self, features: Tensor) -> Tensor:
        """``(N, maps, h, w) -> (N, num_classes, h, w)``: fc8, the class scores at stride 8."""
        return self.fc8(features)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def _last_conv(seq: nn.Module) -> nn.Conv2d:
    return [m for m in seq.modules() if isinstance(m, nn.Conv2d)][-1]


def _deeplab_vgg(features: nn.Sequential, width_mult: float) -> None:
    """VGG-16 made atrous in place: pool4/pool5 3×3 stride 1, conv5_x dilated 2 (v1 §3.1).

    Pools 1–3 become 3×3, stride 2, padding 1, as in the released models, so a
    side of H gives ⌈H/8⌉ scores. ``width_mult`` rebuilds every convolution narrower.
    """
    for name, m in list(features.named_children()):
        if isinstance(m, nn.MaxPool2d):
            stride = 1 if name in ("pool4", "pool5") else 2
            setattr(features, name, nn.MaxPool2d(3, stride, 1, ceil_mode=True))
        elif isinstance(m, nn.Conv2d):
            rate = 2 if name.startswith("conv5") else 1
            cin = m.in_channels if name == "conv1_1" else max(1, round(m.in_channels * width_mult))
            conv = nn.Conv2d(cin, max(1, round(m.out_channels * width_mult)), 3, padding=rate, dilation=rate)
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            nn.init.zeros_(conv.bias)
            setattr(features, name, conv)


def dilate_stage(stage: nn.Sequential, rate: int, grid: Sequence[int] = (1,)) -> None:
    """Replace a ResNet stage's stride by dilation (DeepLab v2 §3.1, v3 §3.1), in place.

    Every stride-2 layer of the stage keeps its resolution instead, and the
    3×3 convolution of unit ``j`` gets rate ``rate · grid[j mod len(grid)]``
    (v3's multi-grid; ``grid=(1,)``: the same rate throughout, as in v2).
    """
    for j, unit in enumerate(stage):
        r = rate * grid[j % len(grid)]
        for m in unit.modules():
            if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)) and _stride(m) > 1:
                m.stride = (1, 1) if isinstance(m, nn.Conv2d) else 1
            if isinstance(m, nn.Conv2d) and m.kernel_size[0] > 1:
                m.dilation = (r, r)
                m.padding = (r * (m.kernel_size[0] - 1) // 2,) * 2


def _stride(m: nn.Module) -> int:
    s = m.stride
    return s[0] if isinstance(s, tuple) else s


class _DilatedResNet(nn.Module):
    """A ResNet's stem and stages (no pooling, no fc) at output stride 8 or 16."""

    def __init__(self, resnet: ResNet, output_stride: int, grid: Sequence[int]) -> None:
        super().__init__()
        if output_stride not in (4, 8, 16):
            raise ValueError(f"output_stride must be 8 or 16 (the papers' strides) or 4 (for small images); got {output_stride}")
        self.conv1, self.bn1, self.relu, self.maxpool = resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool
        self.stage_names = list(resnet.stage_names)
        for name in self.stage_names:
            self.add_module(name, getattr(resnet, name))
        self.final_act = resnet.final_act
        self.num_features = resnet.num_features
        # Each stage past the output stride keeps the resolution and doubles its rate (v3 §3.1).
        # Output stride 4 (conv3_x dilated too) is not in the papers: on small images such as the
        # 64-pixel digits-seg canvases a stride-8 score map is 8×8, too coarse for strokes 2–4 pixels wide.
        undo = {16: 1, 8: 2, 4: 3}[output_stride]
        for k, name in enumerate(self.stage_names[-undo:]):
            last = k == undo - 1
            dilate_stage(getattr(self, name), 2 ** (k + 1), grid if last else (1,))

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for name in self.stage_names:
            x = getattr(self, name)(x)
        return self.final_act(x)


def _backbone(name: str, in_chans: int, output_stride: int, grid: Sequence[int], width_mult: float) -> _DilatedResNet:
    kwargs = {"in_chans": in_chans}
    if width_mult != 1.0:
        kwargs |= {"planes": [max(1, round(p * width_mult)) for p in (64, 128, 256, 512)], "stem_width": max(1, round(64 * width_mult))}
    return _DilatedResNet(create(name, **kwargs), output_stride, grid)


class DeepLabV2(ClassifierInterface, nn.Module):
    """DeepLab v2, ResNet + ASPP-L: ``(N, in_chans, H, W) -> (N, num_classes, ⌈H/8⌉, ⌈W/8⌉)``.

    Args:
        backbone: a registered ImageNet ResNet (``resnet101`` in the paper).
        rates: the ASPP-L rates (6, 12, 18, 24); each branch is one 3×3
            convolution to the classes, and the branches' scores are summed.
    """

    def __init__(self, num_classes: int = 21, in_chans: int = 3, backbone: str = "resnet101",
                 rates: Sequence[int] = (6, 12, 18, 24), width_mult: float = 1.0) -> None:  # fmt: skip
        super().__init__()
        self.in_chans, self.name, self.min_size = in_chans, f"deeplab_v2 ({backbone})", 8
        self.backbone = _backbone(backbone, in_chans, 8, (1,), width_mult)
        c = self.backbone.num_features
        self.aspp = nn.ModuleList(nn.Conv2d(c, num_classes, 3, padding=r, dilation=r) for r in rates)
        for m in self.aspp:
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)
        self.rates = tuple(rates)
        self.classifier_names = tuple(f"aspp.{i}" for i in range(len(rates)))

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, in_chans, H, W) -> (N, 2048, ⌈H/8⌉, ⌈W/8⌉)``: the dilated ResNet."""
        check_input_size(x, self.min_size, self.name, self.in_chans)
        return self.backbone(x)

    def forward_head(self, features: Tensor) -> Tensor:
        """``(N, 2048, h, w) -> (N, num_classes, h, w)``: the sum of the ASPP-L branches' scores."""
        return torch.stack([b(features) for b in self.aspp]).sum(0)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


class DeepLabV3(ClassifierInterface, nn.Module):
    """DeepLab v3, ResNet + ASPP with image pooling: ``(N, in_chans, H, W) -> (N, num_classes, H/os, W/os)``.

    Args:
        output_stride: 16 (conv5_x dilated 2) or 8 (conv4_x dilated 2, conv5_x 4);
            4 (conv3_x 2, conv4_x 4, conv5_x 8) for small images, not in the paper.
        multi_grid: unit rates within conv5_x, relative to its rate ((1, 2, 4) in §4.1).
        rates: the 3×3 ASPP rates at output stride 16, doubled at 8 (§3.3).
        aspp_maps: maps of each ASPP branch (256).
        classifier_std: standard deviation of the scoring convolution's initial
            weights: 0.01, the authors' (a Gaussian in their Caffe and TensorFlow
            releases, for training from an ImageNet backbone with SGD); ``None``
            keeps PyTorch's default, as torchvision's DeepLab head does. From
            scratch with AdamW the 0.01 start holds the network at "background
            everywhere" for hundreds of steps (measured on digits-seg,
            ``benchmarks/RESULTS.md``), so the small configuration's recipe uses ``None``.
    """

    classifier_names = ("classifier",)

    def __init__(self, num_classes: int = 21, in_chans: int = 3, backbone: str = "resnet101", output_stride: int = 16,
                 multi_grid: Sequence[int] = (1, 2, 4), rates: Sequence[int] = (6, 12, 18), aspp_maps: int = 256,
                 width_mult: float = 1.0, classifier_std: float | None = 0.01) -> None:  # fmt: skip
        super().__init__()
        self.in_chans, self.name, self.min_size = in_chans, f"deeplab_v3 ({backbone})", output_stride
        self.backbone = _backbone(backbone, in_chans, output_stride, multi_grid, width_mult)
        scale = 16 // output_stride
        self.aspp = ASPP(self.backbone.num_features, aspp_maps, [r * scale for r in rates], image_pooling=True)
        self.classifier = nn.Conv2d(aspp_maps, num_classes, 1)
        if classifier_std is not None:
            nn.init.normal_(self.classifier.weight, 0.0, classifier_std)
            nn.init.zeros_(self.classifier.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, in_chans, H, W) -> (N, 2048, H/os, W/os)``: the dilated ResNet with multi-grid."""
        check_input_size(x, self.min_size, self.name, self.in_chans)
        return self.backbone(x)

    def forward_head(self, features: Tensor) -> Tensor:
        """``(N, 2048, h, w) -> (N, num_classes, h, w)``: ASPP, then the 1×1 scoring convolution."""
        return self.classifier(self.aspp(features))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


_V1 = dict(family="DeepLab", paper="Chen et al. 2015, arXiv:1412.7062", year=2015, input_size=(3, 321, 321),
           min_size=8, task="segmentation")  # fmt: skip
_V2 = dict(family="DeepLab", paper="Chen et al. 2017, arXiv:1606.00915", year=2017, input_size=(3, 321, 321),
           min_size=8, task="segmentation", no_reference="the paper prints no parameter count for ResNet-101 DeepLab")  # fmt: skip
_V3 = dict(family="DeepLab", paper="Chen et al. 2017, arXiv:1706.05587", year=2017, input_size=(3, 513, 513),
           task="segmentation", no_reference="the paper prints no parameter count")  # fmt: skip


@register_model(**_V1, params="20.5M", table="table 2")
def deeplab_v1_largefov(**kwargs) -> DeepLabV1:
    """DeepLab-LargeFOV (v1 table 2): fc6 3×3 at rate 12, 1,024 maps; 20.5M parameters."""
    return DeepLabV1("largefov", **kwargs)


@register_model(**_V1, params="65.1M", table="table 2")
def deeplab_v1(**kwargs) -> DeepLabV1:
    """DeepLab (v1 table 2, "DeepLab-CRF"): fc6 4×4 at rate 4, 4,096 maps; 65.1M parameters."""
    return DeepLabV1("deeplab", **kwargs)


@register_model(**{**_V1, "input_size": (1, 64, 64)}, no_reference="a CPU-sized LargeFOV: every layer at 1/8 width")
def deeplab_v1_tiny(**kwargs) -> DeepLabV1:
    """DeepLab-LargeFOV with every layer at 1/8 of its maps (0.32M parameters), for a CPU."""
    kwargs.setdefault("width_mult", 0.125)
    kwargs.setdefault("in_chans", 1)  # sized for the grey-scale digits-seg canvases
    return DeepLabV1("largefov", **kwargs)


@register_model(**_V2)
def deeplab_v2(**kwargs) -> DeepLabV2:
    """DeepLab v2: ResNet-101 at output stride 8 and ASPP-L (rates 6, 12, 18, 24); 44.0M parameters."""
    return DeepLabV2(**kwargs)


@register_model(**{**_V3, "min_size": 16})
def deeplabv3(**kwargs) -> DeepLabV3:
    """DeepLab v3: ResNet-101 at output stride 16, multi-grid (1, 2, 4), ASPP 6/12/18 + image pooling; 58.0M parameters."""
    return DeepLabV3(**kwargs)


@register_model(**{**_V3, "min_size": 8, "input_size": (1, 64, 64)})
def deeplabv3_resnet18(**kwargs) -> DeepLabV3:
    """DeepLab v3 on ResNet-18 at output stride 8 with 64-map ASPP branches: a configuration for a CPU."""
    kwargs.setdefault("output_stride", 8)
    kwargs.setdefault("aspp_maps", 64)
    kwargs.setdefault("in_chans", 1)  # sized for the grey-scale digits-seg canvases
    return DeepLabV3(backbone="resnet18", **kwargs)
