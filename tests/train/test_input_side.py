"""``--image-size`` on data that keep their own size: the model sees larger inputs, the labels keep theirs.

A segmentation network with output stride s draws its score map on an s-pixel
grid; upsampling the 64-pixel digits-seg canvases to 128 halves that grid
relative to the masks (FCN-8s: mean IU 0.45 at most at 64, 0.79 measured at
128; ``benchmarks/RESULTS.md``, "Segmentation on digits-seg").
"""

from __future__ import annotations

import math

from cnnzoo.train import TrainConfig, setup
from cnnzoo.train.evaluation import evaluate
from cnnzoo.train.fit import train_step


def _run(tmp_path, image_size):
    config = TrainConfig(
        model="unet", data="digits-seg", image_size=image_size, epochs=1, limit_train=8, batch_size=4,
        out=str(tmp_path / f"run{image_size}"), progress=False, device="cpu",
        model_kwargs={"padding": True, "base_width": 4, "batch_norm": True},
    )  # fmt: skip
    return setup(config)


def test_digits_seg_at_a_larger_input_trains_and_scores_at_the_masks_size(tmp_path):
    run = _run(tmp_path, 96)
    try:
        assert run.pipeline.size == (96, 96)
        assert run.meta.normalize.size == [96, 96]  # saved, so eval and predict resize alike
        x, y = next(iter(run.train_loader))
        assert tuple(y.shape[-2:]) == (64, 64)  # the masks keep the canvas size
        loss, _, _ = train_step(run, x, y)
        assert math.isfinite(float(loss.detach()))
        result = evaluate(run.model, [(x, y)], run.pipeline, run.task, run.device)  # scored against the 64-pixel masks
        assert 0.0 <= result["miou"] <= 1.0
    finally:
        run.run_dir.close()


def test_without_image_size_the_canvas_is_the_input(tmp_path):
    run = _run(tmp_path, None)
    try:
        assert run.pipeline.size == (64, 64)
    finally:
        run.run_dir.close()
