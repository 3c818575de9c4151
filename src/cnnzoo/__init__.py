"""cnnzoo: the classic convolutional neural networks, faithful to their papers.

The front door::

    import cnnzoo
    cnnzoo.list_models("resnet*")
    model = cnnzoo.create("lenet5", num_classes=10)
    model = cnnzoo.create("resnet50", weights="resnet50-0676ba61.pth")  # torchvision's
    report = cnnzoo.analyze(model, input_size=(1, 32, 32))
    model = cnnzoo.load("runs/demo-lenet5/checkpoint-best")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cnnzoo.registry import create as _create
from cnnzoo.registry import get_model_info, list_models, register_model

__version__ = "0.1.0"

__all__ = ["analyze", "create", "get_model_info", "list_models", "load", "register_model"]

if TYPE_CHECKING:
    from torch import nn


def create(name: str, weights: str | None = None, source: str | None = None, **kwargs: Any) -> nn.Module:
    """Build the registered model ``name`` (see ``cnnzoo.registry.create``).

    ``weights=PATH`` loads a local torchvision, timm or Keras checkpoint into it
    (see ``cnnzoo.weights``; ``source`` names the library when the file does
    not), sets the options the source's network needs and returns the model
    in eval mode; ``num_classes`` other than 1000 then replaces the head.
    """
    if weights is None:
        return _create(name, **kwargs)
    from cnnzoo.weights import load_weights

    return load_weights(weights, name, source, **kwargs)[0]


def analyze(model: nn.Module, input_size: tuple[int, ...], **kwargs: Any) -> Any:
    """Per-layer shapes, parameters, MACs, receptive fields and memory (see ``cnnzoo.analysis``)."""
    from cnnzoo.analysis import analyze as _analyze

    return _analyze(model, input_size, **kwargs)


def load(checkpoint: str, **kwargs: Any) -> nn.Module:
    """The model stored in a run's checkpoint, rebuilt from its sidecar, in eval mode."""
    from cnnzoo.train.checkpoint import load_model

    return load_model(checkpoint, **kwargs)
