"""The 1000 ImageNet-1k (ILSVRC-2012) class names, in the standard synset order.

Index ``i`` is the ``i``-th WordNet synset in sorted order (n01440764 "tench"
first, n15075141 "toilet tissue" last): the order torchvision, timm and Keras
all use for their 1000 outputs. The names are the short English labels
torchvision prints.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

__all__ = ["imagenet_class_names"]


@cache
def _names() -> tuple[str, ...]:
    text = (resources.files("cnnzoo.weights") / "imagenet_classes.txt").read_text(encoding="utf-8")
    return tuple(line for line in text.splitlines() if line)


def imagenet_class_names() -> list[str]:
    """A new list of the 1000 names (index = output unit)."""
    return list(_names())
