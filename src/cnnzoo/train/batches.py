"""Batches cut straight from in-memory tensors, for data sets that are tensors already.

A ``DataLoader`` over a ``TensorDataset`` fetches each sample by itself and
stacks them again (``default_collate``): for the embedded digits at batch 32
that is a tenth of LeNet-5's training step, and more of an evaluation pass.
:class:`TensorBatches` indexes the tensors once per batch instead, in the
order the same sampler gives, so every batch holds the same values, in the
same memory layout, as the ``DataLoader`` would yield; a resumed run is
unchanged bit for bit.

:func:`loader` chooses: ``TensorBatches`` when the data set is a
``TensorDataset`` (or ``Subset``\\ s of one) and the task collates with
``default_collate``, else the ``DataLoader``. Worker processes cannot help
there (the data is in memory; they would only copy it between processes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler, Subset, TensorDataset, default_collate

from cnnzoo.train.tasks.base import Task

__all__ = ["TensorBatches", "loader", "tensor_source"]


def tensor_source(dataset: Dataset) -> tuple[tuple[Tensor, ...], Tensor | None] | None:
    """``(tensors, indices)`` behind ``dataset`` (``indices`` maps its positions to rows; ``None``: all rows), else ``None``."""
    index: Tensor | None = None
    while isinstance(dataset, Subset):
        rows = torch.as_tensor(list(dataset.indices), dtype=torch.long)
        index = rows if index is None else rows[index]
        dataset = dataset.dataset
    if type(dataset) is not TensorDataset:  # a subclass may transform samples in __getitem__
        return None
    return dataset.tensors, index


class TensorBatches:
    """Batches ``tensors[rows]`` of the indices ``sampler`` yields (all of them in order without one).

    Images come out with the strides ``default_collate`` gives them (contiguous
    NCHW): the digits, resized by ``F.interpolate``, are stored with
    channels-last strides at C = 1, which would send convolutions down another path.
    """

    def __init__(self, dataset: Dataset, batch_size: int, sampler: Sampler[int] | None = None, pin_memory: bool = False) -> None:
        source = tensor_source(dataset)
        if source is None:
            raise ValueError(f"TensorBatches needs a TensorDataset (or Subsets of one); got {type(dataset).__name__}")
        self.tensors, self.rows = source
        self.dataset, self.batch_size, self.sampler, self.pin_memory = dataset, batch_size, sampler, pin_memory

    def __len__(self) -> int:
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)  # type: ignore[arg-type]
        return -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        order = list(self.sampler) if self.sampler is not None else None
        n = len(order) if order is not None else len(self.dataset)  # type: ignore[arg-type]
        for start in range(0, n, self.batch_size):
            if order is None:
                idx = torch.arange(start, min(start + self.batch_size, n))
            else:
                idx = torch.as_tensor(order[start : start + self.batch_size], dtype=torch.long)
            yield tuple(self._take(t, idx) for t in self.tensors)

    def _take(self, t: Tensor, idx: Tensor) -> Tensor:
        rows = self.rows[idx] if self.rows is not None else idx
        batch = t[rows].clone(memory_format=torch.contiguous_format) if t.dim() == 4 else t[rows]
        return batch.pin_memory() if self.pin_memory else batch


def loader(
    dataset: Dataset, batch_size: int, *, sampler: Sampler[int] | None, collate: Callable[[Sequence[Any]], Any], **dataloader_kw: Any
) -> DataLoader | TensorBatches:
    """:class:`TensorBatches` over an in-memory tensor set collated by default, else a ``DataLoader``."""
    if getattr(collate, "__func__", collate) in (default_collate, Task.collate) and tensor_source(dataset) is not None:
        return TensorBatches(dataset, batch_size, sampler, pin_memory=dataloader_kw.get("pin_memory", False))
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, collate_fn=collate, **dataloader_kw)
