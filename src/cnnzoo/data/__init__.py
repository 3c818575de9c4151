"""Data sets as tensors, and the ``--data name:path`` specs that select them.

``build_data("digits")`` returns a :class:`DataBundle` (train and test sets,
number of classes, channels, image size). Formats register themselves with
``@register_dataset``; see ``digits.py`` for the embedded default.
"""

from cnnzoo.data.datasets import (
    DataBundle,
    DataError,
    build_data,
    list_datasets,
    parse_data_spec,
    register_dataset,
)

__all__ = [
    "DataBundle",
    "DataError",
    "build_data",
    "list_datasets",
    "parse_data_spec",
    "register_dataset",
]
