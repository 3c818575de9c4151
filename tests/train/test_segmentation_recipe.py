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


def test_predict_writes_a_palette_mask_and_an_overlay(tmp_path, unet_run):
    import numpy as np
    from PIL import Image
    from typer.testing import CliRunner

    from cnnzoo.cli import app

    def predict_class_4(model):  # class 4 ("3") everywhere
        model.head.weight.zero_()
        model.head.bias.copy_(torch.arange(11.0) == 4)

    unet_run(tmp_path, padding=True, prepare=predict_class_4)
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


def test_unet_weighted_loss_uses_the_eq2_map_of_each_batch_and_ignores_255():
    import torch.nn.functional as F

    from cnnzoo.data.seg_weights import batch_weight_maps, unet_weight_map
    from cnnzoo.train.tasks.segmentation import weighted_pixel_loss

    target = torch.zeros(2, 20, 30, dtype=torch.long)
    target[:, 5:15, 2:12], target[:, 5:15, 14:24] = 1, 2  # two objects, a 2-pixel gap
    target[1, 0, :] = 255
    maps = batch_weight_maps(target, 3)
    assert maps.shape == target.shape and maps[1, 0].abs().sum() == 0  # no label, no weight
    assert torch.allclose(maps[0], unet_weight_map(target[0], 3))  # w0 = 10, σ = 5
    torch.manual_seed(0)
    scores = torch.randn(2, 3, 20, 30)
    nll = F.cross_entropy(scores, target, ignore_index=255, reduction="none")
    labelled = target != 255
    expected = (maps * nll)[labelled].sum() / labelled.sum()
    task = build_task("segmentation", TaskContext(num_classes=3, loss="unet_weighted"))
    assert task.loss_name == "unet_weighted"
    assert task.loss_fn()(scores, target).item() == pytest.approx(expected.item(), rel=1e-5)
    assert weighted_pixel_loss(scores, target, torch.ones_like(maps)).item() == pytest.approx(F.cross_entropy(scores, target, ignore_index=255).item(), rel=1e-5)


def test_unet_weighted_loss_is_refused_outside_segmentation():
    from cnnzoo.train.config import TrainConfig
    from cnnzoo.train.losses import LOSSES

    assert "unet_weighted" in LOSSES
    TrainConfig(loss="unet_weighted").validate()  # a declared choice; the data decides later
    with pytest.raises(ValueError, match="segmentation data"):
        build_task("classification", TaskContext(num_classes=10, loss="unet_weighted")).loss_fn()
    with pytest.raises(TaskError, match="multi-label"):
        build_task("multilabel", TaskContext(num_classes=10, loss="unet_weighted"))


def test_apply_recipe_fills_only_settings_left_at_their_defaults():
    from cnnzoo.data.digits_seg import RECIPE, RECIPES
    from cnnzoo.train.config import TrainConfig
    from cnnzoo.train.recipe import apply_recipe

    config, record = apply_recipe(TrainConfig(model="unet", data="digits-seg"), RECIPES)
    assert (config.batch_size, config.lr, config.epochs) == (8, 1e-2, 30)
    assert config.model_kwargs == RECIPE["model_kwargs"] and record["recipe"] == "unet"
    typed = TrainConfig(model="unet", data="digits-seg", epochs=3, lr=2e-3, model_kwargs={"base_width": 4})
    config, record = apply_recipe(typed, RECIPES)
    assert (config.epochs, config.lr, config.batch_size) == (3, 2e-3, 8)  # typed values stay
    assert config.model_kwargs["base_width"] == 4 and config.model_kwargs["batch_norm"] is True
    assert "base_width" not in record["applied"]["model_kwargs"] and "epochs" not in record["applied"]
    # The rule is equality with the declared default: a typed --epochs 40 looks untyped.
    assert apply_recipe(TrainConfig(model="unet", epochs=40), RECIPES)[0].epochs == 30
    config, record = apply_recipe(TrainConfig(model="deeplab_v1_tiny"), RECIPES)  # no own recipe: the generic one
    assert record == {"recipe": "*", "applied": {"batch_size": 8, "lr": 1e-2}} and config.model_kwargs == {}
    plain = TrainConfig()
    assert apply_recipe(plain, None) == (plain, {}) and apply_recipe(plain, {}) == (plain, {})
    with pytest.raises(ValueError, match="'epoch'.*not a training setting"):
        apply_recipe(plain, {"*": {"epoch": 3}})


def test_setup_applies_the_digits_seg_recipe_and_records_it_but_leaves_classification_alone(tmp_path):
    import json

    from cnnzoo.train.config import TrainConfig
    from cnnzoo.train.setup import setup

    run = setup(TrainConfig(model="unet", data="digits-seg", epochs=2, out=str(tmp_path / "seg"), progress=False))
    assert (run.config.batch_size, run.config.lr, run.config.epochs) == (8, 1e-2, 2)
    assert run.module.padding is True and run.meta.model_kwargs["batch_norm"] is True
    saved = json.loads((tmp_path / "seg" / "config.json").read_text())
    assert saved["batch_size"] == 8 and saved["data_info"]["recipe"]["recipe"] == "unet"
    assert saved["data_info"]["recipe"]["applied"]["lr"] == 1e-2 and "epochs" not in saved["data_info"]["recipe"]["applied"]
    TrainConfig.from_file(tmp_path / "seg" / "config.json").validate()  # the record does not break loading it back
    run = setup(TrainConfig(model="lenet5", data="digits", epochs=1, out=str(tmp_path / "cls"), progress=False))
    assert run.config.batch_size == TrainConfig.batch_size and run.config.lr is None
    assert "recipe" not in json.loads((tmp_path / "cls" / "config.json").read_text())["data_info"]


def test_small_configurations_of_the_digits_seg_recipes():
    import cnnzoo

    dl = cnnzoo.create("deeplabv3_resnet18", num_classes=11, width_mult=0.25, output_stride=4, rates=[1, 2, 3]).eval()
    rates = [m.dilation[0] for m in dl.backbone.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size[0] == 3]
    assert rates[-4:] == [8, 8, 16, 16]  # conv5_x at rate 8, multi-grid (1, 2, 4) over its two blocks of two convs
    with torch.no_grad():
        assert dl(torch.zeros(1, 1, 64, 64)).shape == (1, 11, 16, 16)  # output stride 4
    fcn = cnnzoo.create("fcn8s", num_classes=11, in_chans=1, width_mult=0.0625, batch_norm=True).eval()
    assert fcn.score_pool3.in_channels == 16 and fcn.fc.fc6.out_channels == 256
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in fcn.features)
    with torch.no_grad():
        assert fcn(torch.zeros(1, 1, 40, 52)).shape == (1, 11, 40, 52)
    with pytest.raises(ValueError, match="width_mult"):
        cnnzoo.create("fcn8s", width_mult=0.0)


def test_resume_keeps_the_recipe_record(tmp_path):
    import json

    from cnnzoo.train import TrainConfig, train

    out = tmp_path / "run"
    config = TrainConfig(model="unet", data="digits-seg", epochs=1, limit_train=8, model_kwargs={"base_width": 2}, out=str(out), progress=False)
    train(config)
    train(TrainConfig(resume=str(out), epochs=2, progress=False))
    saved = json.loads((out / "config.json").read_text())
    assert saved["epochs"] == 2 and saved["batch_size"] == 8 and saved["data_info"]["recipe"]["recipe"] == "unet"
