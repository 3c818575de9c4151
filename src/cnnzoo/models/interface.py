"""The interface every registered model offers, timm's contract.

``forward_features(x)`` runs the network up to the last feature map (before
global pooling), ``forward_head(features)`` turns it into class scores (or, for a
segmentation network, per-pixel scores), and ``forward(x)`` in eval mode equals
``forward_head(forward_features(x))``. ``get_classifier()`` returns the layer
whose outputs are the classes; ``reset_classifier(num_classes)`` replaces it (and
auxiliary classifiers' output layers) by freshly initialised ones with
``num_classes`` outputs, so fine-tuning never has to guess which layer is the head.

A model names its output layers once, in ``classifier_names``: dotted module
paths, the main classifier first, auxiliary ones after it. The mix-in does the rest.
Other layers whose shape depends on the number of classes (FCN's learnable
upsampling of class score maps) are named in ``class_sized_names``, so that
fine-tuning to other classes starts them fresh too.
"""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn

__all__ = ["ClassifierInterface", "fresh_output_layer"]


def fresh_output_layer(layer: nn.Module, num_classes: int) -> nn.Module:
    """A new ``Linear`` or ``Conv2d`` shaped like ``layer`` but with ``num_classes`` outputs.

    Initialised as the builders initialise output layers: weights N(0, 0.01),
    biases zero (AlexNet §5, VGG §3.1, and the fine-tuning recipe of d2l.ai §14.2).
    """
    if isinstance(layer, nn.Linear):
        new: nn.Module = nn.Linear(layer.in_features, num_classes, bias=layer.bias is not None)
    elif isinstance(layer, nn.Conv2d):
        new = nn.Conv2d(
            layer.in_channels, num_classes, layer.kernel_size, layer.stride, layer.padding,
            layer.dilation, groups=1, bias=layer.bias is not None, padding_mode=layer.padding_mode,
        )  # fmt: skip
    else:
        raise TypeError(f"an output layer must be Linear or Conv2d; got {type(layer).__name__}")
    nn.init.normal_(new.weight, 0.0, 0.01)
    if new.bias is not None:
        nn.init.zeros_(new.bias)
    return new.to(device=layer.weight.device, dtype=layer.weight.dtype)


class ClassifierInterface:
    """Mix-in for ``nn.Module`` classes: ``get_classifier`` and ``reset_classifier``.

    The class sets ``classifier_names`` and implements ``forward_features`` and
    ``forward_head``.
    """

    classifier_names: ClassVar[tuple[str, ...]] = ()
    class_sized_names: ClassVar[tuple[str, ...]] = ()

    def forward_features(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward_head(self, features: Tensor) -> Tensor:
        raise NotImplementedError

    def output_layers(self) -> dict[str, nn.Module]:
        """``{dotted name: layer}`` of the main and auxiliary output layers that exist."""
        found = {}
        for name in self.classifier_names:
            try:
                found[name] = self.get_submodule(name)  # type: ignore[attr-defined]
            except AttributeError:
                continue  # an auxiliary classifier the model was built without
        return found

    def get_classifier(self) -> nn.Module:
        """The layer whose outputs are the classes."""
        return self.get_submodule(self.classifier_names[0])  # type: ignore[attr-defined]

    def reset_classifier(self, num_classes: int) -> None:
        """Replace every output layer by a fresh one with ``num_classes`` outputs."""
        if num_classes <= 0:
            raise ValueError(f"num_classes must be a positive integer; got {num_classes}")
        for name, layer in self.output_layers().items():
            parent_name, _, child = name.rpartition(".")
            parent = self.get_submodule(parent_name) if parent_name else self  # type: ignore[attr-defined]
            setattr(parent, child, fresh_output_layer(layer, num_classes))
        self.num_classes = num_classes
