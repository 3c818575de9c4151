"""Network in Network (NiN), in the ImageNet form of Dive into Deep Learning.

M. Lin, Q. Chen, S. Yan, "Network In Network", ICLR 2014, arXiv:1312.4400;
A. Zhang, Z. Lipton, M. Li, A. Smola, "Dive into Deep Learning", §8.3 (NiN).

Two ideas: an "mlpconv" layer, a convolution followed by a small MLP applied at
every position (two 1×1 convolutions, each with a ReLU), so that each layer
computes a non-linear function of its window; and no fully connected
classifier: the last NiN block has one map per class and global average
pooling turns each map into a score (the paper's argument: fewer parameters,
less over-fitting, and maps that read as class confidence maps).

The paper's own ImageNet network is not specified layer by layer, so the
reference here is d2l's, built from AlexNet's first layers. Output sizes at
224×224 (d2l prints them for 1 input channel and 10 classes)::

    NiN block  11×11/4, 96 (+ 1×1, 1×1)   96×54×54
    max pool   3×3/2                      96×26×26
    NiN block  5×5 pad 2, 256             256×26×26
    max pool   3×3/2                      256×12×12
    NiN block  3×3 pad 1, 384             384×12×12
    max pool   3×3/2                      384×5×5
    dropout 0.5
    NiN block  3×3 pad 1, num_classes     num_classes×5×5
    global average pool, flatten          num_classes

As in d2l, the last block ends with a ReLU before the pooling, and weights are
Xavier-uniform (d2l's ``init_cnn``; the paper does not state its scheme).
Any input from 67×67 up is accepted.
"""

from __future__ import annotations

from torch import Tensor, nn

from cnnzoo.layers.input_check import check_input_size
from cnnzoo.models.interface import ClassifierInterface
from cnnzoo.registry import register_model

__all__ = ["NiN", "nin", "nin_block"]

MIN_SIZE = 67  # the smallest side that leaves the third pool a 1×1 map
_HEAD_START = 6  # net[6:]: dropout, last NiN block, global pool, flatten
_LAST_BLOCK = 7  # net[7]: the NiN block with one map per class


def _init_xavier(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)


def nin_block(in_chans: int, out_chans: int, kernel_size: int, stride: int, padding: int) -> nn.Sequential:
    """An mlpconv layer: ``k×k`` conv → ReLU → 1×1 conv → ReLU → 1×1 conv → ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_chans, out_chans, kernel_size, stride, padding),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_chans, out_chans, 1),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_chans, out_chans, 1),
        nn.ReLU(inplace=True),
    )


class NiN(ClassifierInterface, nn.Module):
    """NiN: ``(N, in_chans, 224, 224) -> (N, num_classes)``.

    Args:
        num_classes: output classes (the width of the last NiN block).
        in_chans: input channels (d2l trains on 1-channel Fashion-MNIST upscaled to 224).
        drop_rate: dropout before the last block (0.5 in d2l).

    ``net`` is the ``nn.Sequential`` of d2l, so ``net[i]`` is d2l's layer ``i``.
    ``forward_features`` runs ``net[:6]`` (up to the third max pool), ``forward_head``
    the rest: dropout, the last NiN block (one map per class) and the global pool.
    """

    input_size = 224
    # Every convolution of the last NiN block has one map per class: the last one
    # gives the scores, and the other two are as class-bound (fine-tuning to other
    # classes must not copy them), so all three are output layers.
    classifier_names = ("net.7.4", "net.7.0", "net.7.2")

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.5) -> None:
        super().__init__()
        self.in_chans = in_chans
        self.net = nn.Sequential(
            nin_block(in_chans, 96, 11, 4, 0),
            nn.MaxPool2d(3, 2),
            nin_block(96, 256, 5, 1, 2),
            nn.MaxPool2d(3, 2),
            nin_block(256, 384, 3, 1, 1),
            nn.MaxPool2d(3, 2),
            nn.Dropout(drop_rate),
            nin_block(384, num_classes, 3, 1, 1),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        _init_xavier(self)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, in_chans, H, W) -> (N, 384, h, w)``: three NiN blocks and pools (5×5 at 224×224)."""
        check_input_size(x, MIN_SIZE, "nin", self.in_chans)
        # Layer by layer, not through a slice: a slice is a new, unregistered
        # Sequential, which torch.fx (quantisation) cannot trace.
        for layer in self.net[:_HEAD_START]:
            x = layer(x)
        return x  # N x 384 x 5 x 5

    def forward_head(self, features: Tensor) -> Tensor:
        """``(N, 384, h, w) -> (N, num_classes)``: dropout, the class-map NiN block, global pool."""
        x = features
        for layer in self.net[_HEAD_START:]:
            x = layer(x)
        return x  # N x num_classes

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the whole last NiN block by a fresh one with ``num_classes`` maps.

        Its three convolutions feed each other, so they are rebuilt together
        rather than one by one; the new block is initialised as the builder
        initialises it.
        """
        if num_classes <= 0:
            raise ValueError(f"num_classes must be a positive integer; got {num_classes}")
        old = self.net[_LAST_BLOCK]
        block = nin_block(old[0].in_channels, num_classes, 3, 1, 1)
        _init_xavier(block)
        self.net[_LAST_BLOCK] = block.to(device=old[0].weight.device, dtype=old[0].weight.dtype)
        self.num_classes = num_classes


@register_model(
    family="NiN",
    paper="Lin et al. 2014, arXiv:1312.4400 (d2l ImageNet form)",
    year=2014,
    min_size=MIN_SIZE,
    no_reference=(
        "the NiN paper prints no parameter count for an ImageNet network; the reference is "
        "d2l's ImageNet NiN, whose layer output shapes tests/models/test_nin.py checks"
    ),
)
def nin(**kwargs) -> NiN:
    """Network in Network, d2l's ImageNet form: four NiN blocks and global average pooling."""
    return NiN(**kwargs)

