"""Turn a network's fully connected classifier into convolutions ("dense evaluation").

K. Simonyan, A. Zisserman, "Very Deep Convolutional Networks for Large-Scale
Image Recognition", ICLR 2015, arXiv:1409.1556, §3.2; P. Sermanet et al.,
"OverFeat", ICLR 2014, arXiv:1312.6229; J. Long et al., "Fully Convolutional
Networks for Semantic Segmentation", CVPR 2015, arXiv:1411.4038.

A fully connected layer that reads a ``C × k × k`` feature map is a ``k × k``
convolution with ``C`` input channels applied at one position; every later FC
layer is a ``1 × 1`` convolution. Copying the weights over gives a network that
computes the same scores on the training size and, on a larger image, slides
the classifier over every ``k × k`` window of the last feature map at once:
the output is a spatial *score map* ``(N, num_classes, H', W')`` with
``H' = H_feat − k + 1``. VGG averages that map (and the one of the flipped
image) for its "dense" test-time evaluation; FCN upsamples it into a
segmentation.

    >>> import torch, cnnzoo
    >>> from cnnzoo.layers.fc_to_conv import convolutionalize
    >>> net = convolutionalize(cnnzoo.create("vgg11", num_classes=10).eval())
    >>> net(torch.randn(1, 3, 288, 288)).shape   # 9×9 feature map, 7×7 window
    torch.Size([1, 10, 3, 3])
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

__all__ = ["FullyConvolutional", "convolutionalize", "linear_to_conv"]


def linear_to_conv(fc: nn.Linear, in_chans: int, kernel_size: int) -> nn.Conv2d:
    """The ``kernel_size × kernel_size`` convolution computing ``fc`` on a ``in_chans × k × k`` map.

    ``fc.in_features`` must equal ``in_chans · k²``; the weights are reshaped
    in the order ``torch.flatten`` lays a ``(C, k, k)`` map out, so the two
    layers agree exactly.
    """
    if fc.in_features != in_chans * kernel_size * kernel_size:
        raise ValueError(
            f"a Linear with {fc.in_features} inputs cannot read a {in_chans}×{kernel_size}×{kernel_size} "
            f"feature map ({in_chans * kernel_size * kernel_size} values)"
        )
    conv = nn.Conv2d(
        in_chans, fc.out_features, kernel_size, bias=fc.bias is not None,
        device=fc.weight.device, dtype=fc.weight.dtype,
    )  # fmt: skip
    with torch.no_grad():
        conv.weight.copy_(fc.weight.reshape(fc.out_features, in_chans, kernel_size, kernel_size))
        if fc.bias is not None:
            conv.bias.copy_(fc.bias)
    return conv


class FullyConvolutional(nn.Module):
    """``features`` followed by a convolutional ``head``: ``(N, C, H, W) -> (N, K, H', W')``.

    ``min_size`` is the smallest input that yields a ``1 × 1`` score map (the
    training size of the original network, or ``None`` if unknown); smaller
    inputs raise a ``ValueError`` naming it.
    """

    def __init__(self, features: nn.Module, head: nn.Sequential, min_size: int | None = None) -> None:
        super().__init__()
        convs = [m for m in head if isinstance(m, nn.Conv2d)]
        if not convs:
            raise ValueError("FullyConvolutional: the head holds no Conv2d")
        self.features = features
        self.head = head
        self.min_size = min_size
        self.window = convs[0].kernel_size

    def forward(self, x: Tensor) -> Tensor:
        f = self.features(x)
        k = self.window
        if f.shape[-2] < k[0] or f.shape[-1] < k[1]:
            need = f" (the network was trained at {self.min_size}×{self.min_size})" if self.min_size else ""
            raise ValueError(
                f"the convolutional classifier needs a feature map of at least {k[0]}×{k[1]}; "
                f"a {x.shape[-2]}×{x.shape[-1]} input gives {f.shape[-2]}×{f.shape[-1]}{need}"
            )
        return self.head(f)


def _last_channels(features: nn.Module) -> int:
    convs = [m for m in features.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError("convolutionalize: found no Conv2d in model.features to read the channel count from")
    return convs[-1].out_channels


def convolutionalize(
    model: nn.Module, kernel_size: int | None = None, in_chans: int | None = None
) -> FullyConvolutional:
    """A copy of ``model`` whose FC classifier runs as convolutions, with the same weights.

    Works on AlexNet/VGG-like networks: ``model.features`` (the convolutional
    part), optionally ``model.avgpool`` (an ``AdaptiveAvgPool2d`` fixing the
    map to ``k × k``; it is dropped, since the point is to let the map grow)
    and ``model.classifier``, a ``nn.Sequential`` of ``Linear`` layers with
    activations and dropout between them. The first ``Linear`` becomes a
    ``k × k`` convolution, each later one a ``1 × 1`` convolution; other
    layers are kept (they act elementwise).

    Args:
        model: the network; it is not modified.
        kernel_size: ``k``; read from ``model.avgpool.output_size`` if omitted.
        in_chans: channels of the last feature map; read from the last
            ``Conv2d`` in ``model.features`` if omitted.

    Returns:
        a :class:`FullyConvolutional` in the same train/eval mode as ``model``.
        At the training size its output is ``(N, K, 1, 1)`` and equals
        ``model(x)``; at a larger size it is the score map.
    """
    for attr in ("features", "classifier"):
        if not hasattr(model, attr):
            raise ValueError(
                f"convolutionalize needs a model with `features` and `classifier` (AlexNet/VGG style); "
                f"{type(model).__name__} has no `{attr}`"
            )
    if kernel_size is None:
        pool = getattr(model, "avgpool", None)
        if not isinstance(pool, nn.AdaptiveAvgPool2d):
            raise ValueError("convolutionalize: pass kernel_size= (the model has no AdaptiveAvgPool2d `avgpool`)")
        size = pool.output_size
        sizes = (size, size) if isinstance(size, int) else tuple(size)
        if sizes[0] != sizes[1] or sizes[0] is None:
            raise ValueError(f"convolutionalize: expected a square avgpool output size; got {size}")
        kernel_size = int(sizes[0])
    channels = in_chans if in_chans is not None else _last_channels(model.features)

    layers: list[nn.Module] = []
    first = True
    for layer in model.classifier:
        if isinstance(layer, nn.Linear):
            layers.append(linear_to_conv(layer, channels if first else layer.in_features, kernel_size if first else 1))
            first = False
        elif isinstance(layer, nn.Flatten):
            continue
        else:
            layers.append(copy.deepcopy(layer))
    if first:
        raise ValueError("convolutionalize: model.classifier holds no nn.Linear to convert")
    input_size = getattr(model, "input_size", None)
    net = FullyConvolutional(copy.deepcopy(model.features), nn.Sequential(*layers), input_size)
    return net.train(model.training)
