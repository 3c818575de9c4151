"""TensorBatches yields what a DataLoader over the same tensors and sampler yields, value and layout."""

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset, TensorDataset

from cnnzoo.train import distributed as D
from cnnzoo.train.batches import TensorBatches, loader
from cnnzoo.train.memory_format import use_channels_last


def _images() -> TensorDataset:
    # Upsampled as the digits are: F.interpolate leaves channels-last strides at C = 1.
    x = F.interpolate(torch.rand(23, 1, 4, 4), size=(8, 8), mode="bilinear", align_corners=False)
    return TensorDataset(x, torch.arange(23))


def test_same_batches_as_the_dataloader_over_a_subset_with_a_resumable_sampler():
    ds = Subset(Subset(_images(), list(range(3, 23))), [5, 0, 7, 2, 9, 11, 4, 13, 1, 6])
    sampler = D.ResumableDistributedSampler(ds, D.DistInfo(), seed=7)
    sampler.set_epoch(3, 2)  # resumed two samples into epoch 3
    ours = list(TensorBatches(ds, 3, sampler))
    theirs = list(DataLoader(ds, batch_size=3, sampler=sampler))
    assert len(ours) == len(theirs) == 3
    for (x, y), (tx, ty) in zip(ours, theirs):
        assert torch.equal(x, tx) and torch.equal(y, ty)
        assert x.stride() == tx.stride()  # contiguous NCHW, as default_collate stacks them


def test_sequential_batches_without_a_sampler_and_the_fallback_to_a_dataloader():
    ds = _images()
    ours = list(loader(ds, 10, sampler=None, collate=torch.utils.data.default_collate, shuffle=False))
    assert [len(y) for _, y in ours] == [10, 10, 3]
    assert torch.equal(torch.cat([y for _, y in ours]), torch.arange(23))

    class Doubled(TensorDataset):  # a subclass may change samples: it keeps the DataLoader
        def __getitem__(self, i):
            x, y = super().__getitem__(i)
            return 2 * x, y

    assert isinstance(loader(Doubled(*ds.tensors), 4, sampler=None, collate=torch.utils.data.default_collate), DataLoader)


def test_channels_last_follows_the_setting_else_the_measured_table():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert use_channels_last(True, "vgg16", cpu) and not use_channels_last(False, "mobilenet_v2", cpu)
    assert use_channels_last(None, "mobilenet_v2", cpu)  # measured faster in NHWC on the CPU
    assert not use_channels_last(None, "resnet50", cpu)  # measured no faster
    assert not use_channels_last(None, "mobilenet_v2", cuda)  # not measured on a GPU yet
