"""The ``elastic`` preset: U-Net §3.1's deformation, seeded, moving the mask in segmentation, the image alone otherwise."""

from __future__ import annotations

import pytest
import torch

from cnnzoo.data.augment import AUGMENTATIONS, build_augment, elastic_sigma
from cnnzoo.data.seg_augment import IGNORE_LABEL, ElasticDeformation
from cnnzoo.train.tasks import TaskContext, build_task


def _squares(n: int = 6, size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.zeros(n, 1, size, size)
    x[:, :, 20:44, 16:40] = 1.0
    return x, (x[:, 0] > 0.5).long() * 2


def test_elastic_is_a_preset_seeded_by_the_generator_it_is_given():
    assert "elastic" in AUGMENTATIONS
    aug = build_augment("elastic", torch.Generator().manual_seed(3), image_size=(64, 64))
    assert isinstance(aug, ElasticDeformation) and aug.points == 3
    x, _ = _squares()
    state = torch.get_rng_state()
    a = aug(x)
    b = build_augment("elastic", torch.Generator().manual_seed(3), image_size=(64, 64))(x)
    c = build_augment("elastic", torch.Generator().manual_seed(4), image_size=(64, 64))(x)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(state, torch.get_rng_state())  # the global RNG is left alone
    with pytest.raises(ValueError, match="image size"):
        build_augment("elastic", torch.Generator())


def test_elastic_sigma_is_ten_pixels_per_512_with_a_floor():
    assert elastic_sigma((512, 512)) == pytest.approx(10.0)  # the paper's images and σ
    assert elastic_sigma((1024, 2048)) == pytest.approx(20.0)
    assert elastic_sigma((64, 64)) == pytest.approx(2.0)


def test_segmentation_task_moves_the_mask_with_the_elastic_warp():
    task = build_task("segmentation", TaskContext(num_classes=3))
    x, mask = _squares()
    aug = build_augment("elastic", torch.Generator().manual_seed(0), image_size=(64, 64))
    aug.sigma = 6.0  # a visible warp on a 64-pixel square
    image, labels = task.augment_batch(aug, x, mask)
    assert not torch.equal(labels, mask) and labels.dtype == mask.dtype
    assert set(labels.unique().tolist()) <= {0, 2, IGNORE_LABEL}  # nearest-neighbour: no invented classes
    inside = labels != IGNORE_LABEL
    assert ((image[:, 0] > 0.5) == (labels == 2))[inside].float().mean() > 0.97


def test_classification_deforms_the_image_and_keeps_the_label():
    task = build_task("classification", TaskContext(num_classes=10))
    x, _ = _squares()
    y = torch.arange(6)
    aug = build_augment("elastic", torch.Generator().manual_seed(0), image_size=(64, 64))
    image, labels = task.augment_batch(aug, x, y)
    assert image.shape == x.shape and not torch.equal(image, x) and labels is y
