"""DenseNet: ImageNet DenseNet-121/161/169/201/264 and the CIFAR DenseNets.

G. Huang, Z. Liu, L. van der Maaten, K. Weinberger, "Densely Connected
Convolutional Networks", CVPR 2017, arXiv:1608.06993. Memory-efficient mode:
G. Pleiss et al., "Memory-Efficient Implementation of DenseNets",
arXiv:1707.06990 (see ``cnnzoo.layers.dense_block``).

Table 1 (ImageNet, 224×224, all DenseNet-BC: bottleneck 4k, compression 0.5):

==========  ===  ================  ========  ======
network      k   layers per block  params    MACs
==========  ===  ================  ========  ======
121          32  6, 12, 24, 16     8.0M      2.9G
169          32  6, 12, 32, 32     14.1M     3.4G
201          32  6, 12, 48, 32     20.0M     4.3G
264          32  6, 12, 64, 48     33.3M     5.8G
161          48  6, 12, 36, 24     28.7M     7.7G
==========  ===  ================  ========  ======

stem: 7×7/2 conv (``2k`` channels) → BN → ReLU → 3×3/2 max pool; dense
blocks separated by transitions (BN-ReLU-1×1 conv-2×2/2 average pool); BN →
ReLU → global average pooling → fully connected.

Table 2 (CIFAR, 32×32, ``densenet_cifar``): three dense blocks of equal size
at 32×32, 16×16 and 8×8 after a 3×3 conv; ``(L − 4) / 3`` layers per block,
or ``(L − 4) / 6`` with the bottleneck (each layer then has two convolutions).
The first convolution has 16 channels, ``2k`` for DenseNet-BC (§3,
"Implementation details"). DenseNet (L=40, k=12) 1.0M, (100, 12) 7.0M,
(100, 24) 27.2M; DenseNet-BC (100, 12) 0.8M, (250, 24) 15.3M, (190, 40) 25.6M.
DenseNet-B is ``bottleneck=True, compression=1``; DenseNet-C is
``bottleneck=False, compression=0.5``.

Initialisation: as the authors' Torch code (fb.resnet.torch's): He normal for
convolutions (``std = sqrt(2 / (k·k·C_out))``), BN γ = 1, β = 0, zero biases.
"""

from __future__ import annotations

from torch import Tensor, nn

from cnnzoo.layers.dense_block import DenseBlock, Transition
from cnnzoo.layers.input_check import check_input_size
from cnnzoo.models.interface import ClassifierInterface
from cnnzoo.registry import register_model

__all__ = [
    "DenseNet",
    "densenet121",
    "densenet161",
    "densenet169",
    "densenet201",
    "densenet264",
    "densenet_cifar",
]


class DenseNet(ClassifierInterface, nn.Module):
    """DenseNet: ``(N, in_chans, H, W) -> (N, num_classes)``.

    ImageNet stem (``stem="imagenet"``): any input of at least 29×29 (the
    feature maps reach 1×1 in the last block); CIFAR stem (``stem="cifar"``):
    at least 4×4. The head pools globally (the paper's 7×7 / 8×8 pooling at
    224 / 32).

    Args:
        block_config: layers in each dense block.
        growth_rate: ``k``.
        init_features: channels of the first convolution.
        bottleneck: BN-ReLU-Conv(1×1, ``bn_size·k``) before each 3×3 conv (B).
        compression: ``θ``, transitions keep ``⌊θ·C⌋`` channels (C; 1 = none).
        bn_size: bottleneck width in multiples of ``k``.
        drop_rate: dropout after every convolution but the first.
        memory_efficient: recompute concatenations and BN in backward.
        stem: ``"imagenet"`` (7×7/2 conv, max pool) or ``"cifar"`` (3×3 conv).
        num_classes: classifier outputs.
        in_chans: input channels.
    """

    # The classifier is the last module of ``head`` (pool, flatten, linear);
    # the name stays so that state_dict keys do not change.
    classifier_names = ("head.2",)

    def __init__(
        self,
        block_config: tuple[int, ...],
        growth_rate: int = 32,
        init_features: int = 64,
        bottleneck: bool = True,
        compression: float = 0.5,
        bn_size: int = 4,
        drop_rate: float = 0.0,
        memory_efficient: bool = False,
        stem: str = "imagenet",
        num_classes: int = 1000,
        in_chans: int = 3,
        name: str = "densenet",
    ) -> None:
        super().__init__()
        if not 0.0 < compression <= 1.0:
            raise ValueError(f"compression θ must be in (0, 1]; got {compression}")
        if growth_rate < 1:
            raise ValueError(f"growth_rate must be a positive integer; got {growth_rate}")
        if stem not in ("imagenet", "cifar"):
            raise ValueError(f"stem must be 'imagenet' or 'cifar'; got {stem!r}")
        self.in_chans = in_chans
        self.name = name
        self.min_size = 29 if stem == "imagenet" else 2 ** (len(block_config) - 1)
        self.features = nn.Sequential()
        if stem == "imagenet":
            self.features.add_module("conv0", nn.Conv2d(in_chans, init_features, 7, 2, 3, bias=False))
            self.features.add_module("norm0", nn.BatchNorm2d(init_features))
            self.features.add_module("relu0", nn.ReLU(inplace=True))
            self.features.add_module("pool0", nn.MaxPool2d(3, 2, 1))
        else:
            self.features.add_module("conv0", nn.Conv2d(in_chans, init_features, 3, 1, 1, bias=False))
        c = init_features
        for i, n in enumerate(block_config):
            block = DenseBlock(n, c, growth_rate, bottleneck, bn_size, drop_rate, memory_efficient)
            self.features.add_module(f"denseblock{i + 1}", block)
            c = block.out_chans
            if i != len(block_config) - 1:
                c_out = int(compression * c)
                self.features.add_module(f"transition{i + 1}", Transition(c, c_out, drop_rate))
                c = c_out
        self.features.add_module("norm5", nn.BatchNorm2d(c))
        self.features.add_module("relu5", nn.ReLU(inplace=True))
        self.num_features, self.num_classes = c, num_classes
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(c, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, in_chans, H, W) -> (N, num_features, H/32, W/32)`` (``/4`` on CIFAR)."""
        check_input_size(x, self.min_size, self.name, self.in_chans)
        return self.features(x)

    def forward_head(self, features: Tensor) -> Tensor:
        """``(N, num_features, h, w) -> (N, num_classes)``: global pool, flatten, linear."""
        return self.head(features)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def _imagenet(name: str, block_config: tuple[int, ...], growth_rate: int, **kwargs) -> DenseNet:
    kwargs.setdefault("init_features", 2 * growth_rate)
    return DenseNet(block_config, growth_rate, name=name, **kwargs)


_IMAGENET = {
    "paper": "Huang et al. 2017, arXiv:1608.06993",
    "family": "DenseNet",
    "year": 2017,
    "min_size": 29,
    "test_size": (3, 32, 32),
}


# The paper's 2.9G for DenseNet-121 is read off figure 3's axis; its convolutions
# and classifier add up to 2.83G (2.3% less), so the tolerance is a relative one.
@register_model(**_IMAGENET, params="8.0M", macs="2.9G", macs_rtol=0.025)
def densenet121(**kwargs) -> DenseNet:
    """DenseNet-121 (k=32; 6, 12, 24, 16)."""
    return _imagenet("densenet121", (6, 12, 24, 16), kwargs.pop("growth_rate", 32), **kwargs)


@register_model(**_IMAGENET, params="28.7M", macs="7.7G")
def densenet161(**kwargs) -> DenseNet:
    """DenseNet-161 (k=48; 6, 12, 36, 24; 96 stem channels)."""
    return _imagenet("densenet161", (6, 12, 36, 24), kwargs.pop("growth_rate", 48), **kwargs)


@register_model(**_IMAGENET, params="14.1M", macs="3.4G")
def densenet169(**kwargs) -> DenseNet:
    """DenseNet-169 (k=32; 6, 12, 32, 32)."""
    return _imagenet("densenet169", (6, 12, 32, 32), kwargs.pop("growth_rate", 32), **kwargs)


@register_model(**_IMAGENET, params="20.0M", macs="4.3G")
def densenet201(**kwargs) -> DenseNet:
    """DenseNet-201 (k=32; 6, 12, 48, 32)."""
    return _imagenet("densenet201", (6, 12, 48, 32), kwargs.pop("growth_rate", 32), **kwargs)


@register_model(**_IMAGENET, params="33.3M", macs="5.8G")
def densenet264(**kwargs) -> DenseNet:
    """DenseNet-264 (k=32; 6, 12, 64, 48)."""
    return _imagenet("densenet264", (6, 12, 64, 48), kwargs.pop("growth_rate", 32), **kwargs)


@register_model(
    family="DenseNet",
    paper="Huang et al. 2017, arXiv:1608.06993",
    year=2017,
    input_size=(3, 32, 32),
    min_size=4,
    params="0.8M",
    table="table 2",
    test_size=(3, 8, 8),
)
def densenet_cifar(
    depth: int = 100,
    growth_rate: int = 12,
    bottleneck: bool = True,
    compression: float = 0.5,
    num_classes: int = 10,
    **kwargs,
) -> DenseNet:
    """CIFAR DenseNet of table 2; the default is DenseNet-BC (L=100, k=12), 0.8M.

    ``depth`` L counts the convolutions and the classifier: the first conv,
    ``3·n`` (or ``3·2n`` with the bottleneck) in the blocks, two transitions and
    the fully connected layer, so ``L = 3n + 4`` (``6n + 4`` for -B/-BC).
    """
    per_layer = 6 if bottleneck else 3
    if depth < 4 + per_layer or (depth - 4) % per_layer:
        raise ValueError(
            f"densenet_cifar: depth must be {per_layer}n + 4 with n >= 1 "
            f"({'with' if bottleneck else 'without'} bottleneck); got {depth}"
        )
    n = (depth - 4) // per_layer
    kwargs.setdefault("init_features", 2 * growth_rate if bottleneck and compression < 1 else 16)
    return DenseNet(
        (n, n, n),
        growth_rate,
        bottleneck=bottleneck,
        compression=compression,
        stem="cifar",
        num_classes=num_classes,
        name="densenet_cifar",
        **kwargs,
    )
