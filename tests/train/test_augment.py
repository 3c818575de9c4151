"""Augmentation presets: shapes, seeded draws, the formulas of PCA lighting and scale jittering."""

from __future__ import annotations

import pytest
import torch

from cnnzoo.data.augment import (
    AUGMENTATIONS,
    PCALighting,
    ScaleJitter,
    build_augment,
    rgb_eigen,
    train_crop,
)


@pytest.mark.parametrize("name", AUGMENTATIONS)
def test_presets_shapes_and_seeding(name):
    x = torch.rand(4, 3, 64, 64)
    pca = rgb_eigen(x)
    out = build_augment(name, torch.Generator().manual_seed(0), in_chans=3, image_size=(64, 64), pca=pca)(x)
    crop = train_crop(name, (64, 64)) or (64, 64)
    assert out.shape == (4, 3, *crop) and torch.isfinite(out).all()
    global_state = torch.get_rng_state()
    again = build_augment(name, torch.Generator().manual_seed(0), in_chans=3, image_size=(64, 64), pca=pca)(x)
    assert torch.equal(out, again)  # the draws come from the generator…
    assert torch.equal(global_state, torch.get_rng_state())  # …and leave the global RNG alone
    grey = build_augment(name, torch.Generator().manual_seed(0), in_chans=1, image_size=(64, 64))(x[:, :1])
    assert grey.shape == (4, 1, *crop)


def test_crop_fraction_is_224_of_256():
    assert train_crop("alexnet", (256, 256)) == (224, 224) and train_crop("cifar", (32, 32)) is None


def test_pca_lighting_formula():
    torch.manual_seed(0)
    mix = torch.tensor([[1.0, 0.2, 0.1], [0.0, 1.0, 0.3], [0.0, 0.0, 1.0]])
    imgs = torch.einsum("ij,njhw->nihw", mix, torch.rand(64, 3, 8, 8))
    eigval, eigvec = rgb_eigen(imgs)
    cov = torch.cov(imgs.double().permute(1, 0, 2, 3).reshape(3, -1))
    v = torch.tensor(eigvec, dtype=torch.float64)
    assert torch.allclose(v.T @ cov @ v, torch.diag(torch.tensor(eigval, dtype=torch.float64)), atol=1e-10)
    light = PCALighting(eigval, eigvec, std=0.1, generator=torch.Generator().manual_seed(1))
    x = torch.zeros(20000, 3, 1, 1)
    shift = light(x)[:, :, 0, 0].double()
    # In the eigenbasis the shift is α_i λ_i with α_i ~ N(0, 0.1²): each image gets one constant RGB offset.
    alpha = (shift @ v) / torch.tensor(eigval, dtype=torch.float64)
    assert alpha.std(0) == pytest.approx([0.1] * 3, rel=0.05)
    assert alpha.mean(0).abs().max() < 0.005


def test_scale_jitter_crops_a_window_of_side_out_over_s():
    # A horizontal ramp rising 1/255 per pixel: rescaled to side S its slope is 256/S per pixel,
    # so S/256 ∈ [1, 2] (VGG's [256, 512]) is the inverse of the slope measured on the crop.
    ramp = torch.linspace(0, 1, 256).expand(1, 1, 256, 256).repeat(64, 1, 1, 1)
    out = ScaleJitter((224, 224), (1.0, 2.0), torch.Generator().manual_seed(0))(ramp)
    slope = (out[:, 0, 100, 150] - out[:, 0, 100, 50]) / 100 * 255
    scale = 1 / slope  # = S / 256
    assert out.shape == (64, 1, 224, 224)
    assert scale.min() >= 0.99 and scale.max() <= 2.01 and scale.max() - scale.min() > 0.5


def test_cifar_preset_pads_and_flips():
    x = torch.arange(32.0).expand(1, 3, 32, 32).repeat(256, 1, 1, 1) / 32
    out = build_augment("cifar", torch.Generator().manual_seed(0), in_chans=3, image_size=(32, 32))(x)
    rows = out[:, 0, 16]
    flipped = (rows[:, 1:] - rows[:, :-1]).sum(1) < 0
    assert 0.3 < flipped.float().mean() < 0.7  # about half are mirrored
    assert (out == 0).flatten(1).any(1).float().mean() > 0.5  # most crops include some of the zero padding


def test_unknown_preset():
    with pytest.raises(ValueError, match="accepted: none, digits, alexnet"):
        build_augment("mixup")
