"""Segmentation recipe: joint image/label augmentation, U-Net's elastic deformation, a run that learns."""

from __future__ import annotations

import pytest
import torch

from cnnzoo.data.augment import RandomAffine, build_augment
from cnnzoo.data.seg_augment import (
    IGNORE_LABEL,
    ElasticDeformation,
    JointAffine,
    elastic_grid,
    joint_augment,
    warp_pair,
)
from cnnzoo.train.tasks import TaskContext, build_task
from cnnzoo.train.tasks.base import TaskError


def _square_batch(n: int = 4, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Bright squares on black, labelled 3 where bright: the mask *is* the thresholded image."""
    x = torch.zeros(n, 1, size, size)
    x[:, :, 10:22, 8:20] = 1.0
    return x, (x[:, 0] > 0.5).long() * 3


def test_identity_grid_changes_nothing():
    x, mask = _square_batch()
    grid = elastic_grid(4, (32, 32), sigma=0.0)
    image, labels = warp_pair(x, mask, grid)
    assert torch.allclose(image, x, atol=1e-5) and torch.equal(labels, mask)


def test_affine_moves_labels_with_the_pixels_and_uses_the_image_preset_draws():
    x, mask = _square_batch()
    image_only = RandomAffine(degrees=30, translate=0.2, generator=torch.Generator().manual_seed(5))(x)
    image, labels = JointAffine(degrees=30, translate=0.2, generator=torch.Generator().manual_seed(5))(x, mask)
    assert torch.allclose(image, image_only)  # the same draws as the image preset
    assert not torch.equal(labels, mask)  # it did move
    # Nearest-neighbour labels: only classes that exist (0, 3) or 255; no blends like 1 or 2.
    assert set(labels.unique().tolist()) <= {0, 3, IGNORE_LABEL}
    inside = labels != IGNORE_LABEL
    agree = ((image[:, 0] > 0.5) == (labels == 3))[inside].float().mean()
    assert agree > 0.98  # labels follow the pixels (disagreement only on the resampled edge)


def test_elastic_deformation_is_smooth_and_matches_the_paper_sigma():
    g = torch.Generator().manual_seed(0)
    grid = elastic_grid(200, (64, 64), sigma=10.0, generator=g)
    ident = elastic_grid(1, (64, 64), sigma=0.0)
    shift_px = (grid - ident) * 32  # [-1, 1] units -> pixels on a 64-pixel side
    # At the 3×3 control points (corners, edge centres, centre) bicubic interpolation
    # reproduces the drawn N(0, 10²) displacement: the standard deviation is ~10 px.
    corner = shift_px[:, 0, 0].flatten()
    assert 8.5 < corner.std().item() < 11.5
    # Smooth: neighbouring pixels move nearly alike (≤ ~1 px apart for σ = 10 over 32 px).
    step = (shift_px[:, :, 1:] - shift_px[:, :, :-1]).abs().max()
    assert step < 3.0


def test_elastic_pair_keeps_image_and_labels_aligned():
    x, mask = _square_batch(8, 48)
    aug = ElasticDeformation(sigma=4.0, generator=torch.Generator().manual_seed(1))
    image, labels = aug.pair(x, mask)
    assert image.shape == x.shape and labels.shape == mask.shape and labels.dtype == mask.dtype
    inside = labels != IGNORE_LABEL
    agree = ((image[:, 0] > 0.5) == (labels == 3))[inside].float().mean()
    assert agree > 0.97
    assert not torch.equal(labels, mask)
    with pytest.raises(ValueError, match="sigma"):
        ElasticDeformation(sigma=-1.0)


def test_segmentation_task_augments_jointly_and_refuses_crops_it_cannot_replay():
    task = build_task("segmentation", TaskContext(num_classes=4))
    x, mask = _square_batch()
    image, labels = task.augment_batch(build_augment("digits", torch.Generator().manual_seed(0)), x, mask)
    assert image.shape == x.shape and set(labels.unique().tolist()) <= {0, 3, IGNORE_LABEL}
    same = task.augment_batch(build_augment("none"), x, mask)
    assert same[0] is x and same[1] is mask
    assert joint_augment(build_augment("cifar", torch.Generator(), in_chans=1, image_size=(32, 32))) is None
    with pytest.raises(TaskError, match="--aug"):
        task.augment_batch(build_augment("cifar", torch.Generator(), in_chans=1, image_size=(32, 32)), x, mask)


def test_predict_writes_a_palette_mask_and_an_overlay(tmp_path):
    import numpy as np
    from PIL import Image
    from typer.testing import CliRunner

    import cnnzoo
    from cnnzoo.cli import app
    from cnnzoo.train.checkpoint import save_checkpoint
    from cnnzoo.train.meta import CheckpointMeta, Normalization

    kwargs = {"num_classes": 11, "in_chans": 1, "padding": True, "base_width": 2}
    meta = CheckpointMeta(
        model="unet", model_kwargs=kwargs, task="segmentation", data="digits-seg", data_name="digits-seg",
        num_classes=11, class_names=["background"] + [str(d) for d in range(10)], in_chans=1,
        normalize=Normalization(mean=[0.1], std=[0.3], size=[64, 64]),
    )  # fmt: skip
    model = cnnzoo.create("unet", **kwargs)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.copy_(torch.arange(11.0) == 4)  # predicts class 4 ("3") everywhere
    save_checkpoint(tmp_path / "checkpoint-last", model, meta)
    image = tmp_path / "canvas.png"
    Image.fromarray(np.full((40, 56), 200, np.uint8)).save(image)  # any size, not the training 64×64
    r = CliRunner().invoke(app, ["predict", str(tmp_path), str(image), "--out", str(tmp_path / "pred")])
    assert r.exit_code == 0, r.output
    mask = Image.open(tmp_path / "pred" / "canvas-mask.png")
    assert mask.mode == "P" and mask.size == (56, 40)
    assert set(np.asarray(mask).flatten().tolist()) == {4}
    assert mask.getpalette()[4 * 3 : 4 * 3 + 3] == [0, 0, 128]  # VOC's colour of index 4 (boat blue)
    overlay = np.asarray(Image.open(tmp_path / "pred" / "canvas-overlay.png"))
    assert overlay.shape == (40, 56, 3) and tuple(overlay[0, 0]) == (100, 100, 164)  # ½ grey 200 + ½ (0, 0, 128)
    assert "3 2240" in r.output  # 40 × 56 pixels of class "3"
    r = CliRunner().invoke(app, ["eval", str(tmp_path), "--device", "gpu"])
    assert r.exit_code == 2 and "--device 'gpu'" in r.output and "cuda:N" in r.output and "safetensors" not in r.output


def test_unet_weight_map_separates_touching_objects():
    from cnnzoo.data.seg_weights import class_balance, connected_components, unet_weight_map

    mask = torch.zeros(20, 30, dtype=torch.long)
    mask[5:15, 2:12], mask[5:15, 14:24] = 1, 2  # two objects two pixels apart
    assert connected_components(mask > 0).unique().tolist() == [0, 1, 2]
    wc = class_balance(mask, 3)
    assert wc.mean().item() == pytest.approx(1.0) and wc[0, 0].item() == pytest.approx(600 / (400 * 3))
    w = unet_weight_map(mask, 3)  # w0 = 10, sigma = 5 (eq. 2)
    # Gap pixel (10, 13): 2 px from the first object, 1 px from the second: w0·exp(−3²/50).
    assert w[10, 13].item() == pytest.approx(0.5 + 10 * torch.exp(torch.tensor(-9 / 50)).item(), rel=1e-5)
    assert w[10, 13] > 10 * w[0, 29]  # the gap weighs far more than open background
    assert w[10, 5].item() == pytest.approx(2.0)  # object pixels keep their class weight
    single = torch.zeros(8, 8, dtype=torch.long)
    single[2:5, 2:5] = 1
    assert torch.equal(unet_weight_map(single, 2), class_balance(single, 2))  # nothing to separate


@pytest.mark.slow
def test_tiny_budget_unet_rises_well_above_predicting_background(tmp_path):
    # The recipe of docs/segmentation.md (digits_seg.RECIPE: batch norm, no dropout at
    # the bottom, AdamW at 1e-2, batches of 8) on a budget of 250 steps, with the focal
    # loss, which leaves "all background" sooner than cross-entropy (0.16 against 0.11
    # mean IoU after 250 steps in benchmarks/RESULTS.md).
    from cnnzoo.data.digits_seg import RECIPE, digits_seg
    from cnnzoo.train import TrainConfig, train

    test_masks = digits_seg().test.tensors[1]
    background = (test_masks == 0).float().mean().item()
    all_background_miou = background / 11  # IoU of background = its share; 0 for every digit
    assert all_background_miou == pytest.approx(0.083, abs=0.005)
    recipe = RECIPE | {"epochs": 2, "loss": "focal"}
    config = TrainConfig(model="unet", data="digits-seg", out=str(tmp_path / "run"), progress=False, **recipe)
    result = train(config)
    final = result.rows[-1]
    assert final["test_miou"] > 1.5 * all_background_miou, final
    assert final["test_mean_acc"] > 2 * (1 / 11), final  # digits found, not just background


def test_unet_batch_norm_option_swaps_conv_biases_for_bn():
    from cnnzoo.models.unet import UNet

    plain, bn = UNet(padding=True, base_width=8), UNet(padding=True, base_width=8, batch_norm=True)
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    convs = [m for m in plain.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs) == 18  # 2 per stage: 5 contracting (with the bottom) + 4 expanding
    # Each 3×3 conv loses its C_out biases and gains BN's C_out scales and C_out shifts.
    assert n(bn) - n(plain) == sum(c.out_channels for c in convs)
    assert n(UNet()) == 31_030_658  # the paper's network is unchanged


def test_pixel_focal_loss_is_cross_entropy_at_gamma_0_and_ignores_255():
    import torch.nn.functional as F

    from cnnzoo.train.tasks.segmentation import pixel_focal_loss

    torch.manual_seed(0)
    scores, target = torch.randn(2, 4, 5, 5), torch.randint(0, 4, (2, 5, 5))
    target[0, 0] = 255
    ce = F.cross_entropy(scores, target, ignore_index=255)
    assert pixel_focal_loss(scores, target, gamma=0.0).item() == pytest.approx(ce.item(), rel=1e-5)
    assert pixel_focal_loss(scores, target).item() < ce.item()  # (1 − p)² < 1 down-weights every pixel
    task = build_task("segmentation", TaskContext(num_classes=4, loss="focal"))
    assert task.loss_name == "focal" and task.loss_fn()(scores, target).item() == pytest.approx(pixel_focal_loss(scores, target).item())
