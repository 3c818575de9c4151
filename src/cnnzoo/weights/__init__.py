"""Weights from other libraries: torchvision, timm and Keras checkpoints in cnnzoo's models.

    >>> import cnnzoo
    >>> model = cnnzoo.create("resnet50", weights="resnet50-0676ba61.pth")  # torchvision: v1.5

A local file is read (nothing downloads), its tensors are mapped onto the cnnzoo
model, the variant the source used is set from the source (never guessed from
shapes), and sources whose architecture is not the paper's are refused. See
``docs/weights.md`` for the table of supported source models.
"""

from __future__ import annotations

from cnnzoo.weights.catalog import REFUSED, SOURCES, SourceModel
from cnnzoo.weights.classes import imagenet_class_names
from cnnzoo.weights.errors import WeightsError
from cnnzoo.weights.importer import ImportResult, import_weights, load_weights

__all__ = [
    "REFUSED",
    "SOURCES",
    "ImportResult",
    "SourceModel",
    "WeightsError",
    "imagenet_class_names",
    "import_weights",
    "load_weights",
]
