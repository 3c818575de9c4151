"""``cnnzoo train`` / ``eval`` / ``predict`` on a detection run: mAP and per-class AP, boxes drawn and in JSON."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cnnzoo.cli import app
from cnnzoo.train import TrainConfig, train

_spec = importlib.util.spec_from_file_location("cnnzoo_test_detection_spine", Path(__file__).parents[1] / "train" / "test_detection_spine.py")
spine = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(spine)
detectors = spine.detectors  # the test-only detectors and data sets, registered for each test

runner = CliRunner()


def _one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    return lines[0]


def _save_grey(path: Path, h: int, w: int) -> Path:
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((h, w)) * 60).astype(np.uint8), mode="L").save(path)
    return path


def test_train_eval_and_predict_a_detector(tmp_path, detectors):
    run = tmp_path / "run"
    r = runner.invoke(app, ["train", "_test_griddet", "--data", "test-digits-det", "--epochs", "2", "--batch-size", "16", "--lr", "0.01", "--out", str(run), "-q"])
    assert r.exit_code == 0, r.output
    assert (run / "checkpoint-best.safetensors").exists() and (run / "checkpoint-last.safetensors").exists()
    assert [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2]

    r = runner.invoke(app, ["eval", str(run)])
    assert r.exit_code == 0, r.output
    assert "mAP@0.5" in r.output and "COCO AP" in r.output and "per class" in r.output and "AP (VOC2007)" in r.output
    report = run / "eval-digits-det-test-center"
    assert {"evaluation.json", "pr.png", "ap.png"} <= {p.name for p in report.iterdir()}
    saved = json.loads((report / "evaluation.json").read_text())
    assert saved["num_samples"] == 16 and len(saved["per_class"]["ap"]) == 10 and 0.0 <= saved["coco_AP"] <= saved["coco_AP50"] <= 1.0

    r = runner.invoke(app, ["eval", str(run), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["map50"] == saved["map50"]

    image = _save_grey(tmp_path / "canvas.png", 96, 160)
    out = tmp_path / "predicted"
    args = ["predict", str(run), str(image), "--out", str(out), "--score-threshold", "0", "--max-detections", "5"]
    r = runner.invoke(app, [*args, "--json"])
    assert r.exit_code == 0, r.output
    found = json.loads(r.output)
    assert found == json.loads((out / "detections.json").read_text())
    assert [f["image"] for f in found] == [str(image)] and 1 <= len(found[0]["boxes"]) <= 5
    for b in found[0]["boxes"]:
        assert set(b) == {"box", "label", "class", "score"} and b["class"] == str(b["label"])
        x1, y1, x2, y2 = b["box"]
        assert 0 <= x1 <= x2 <= 160 and 0 <= y1 <= y2 <= 96  # in the file's pixels, not the run's 64 × 64
    scores = [b["score"] for b in found[0]["boxes"]]
    assert scores == sorted(scores, reverse=True)
    drawn = np.asarray(Image.open(out / "canvas-boxes.png").convert("RGB")).astype(int)
    assert drawn.shape[:2] == (96 * 4, 160 * 4)  # enlarged for legible labels
    assert (np.abs(drawn[..., 0] - drawn[..., 1]) > 40).any()  # coloured boxes on a grey image

    r = runner.invoke(app, args)
    assert r.exit_code == 0 and "canvas-boxes.png" in r.output and "detections.json" in r.output


def test_predicted_boxes_are_scaled_back_to_the_files_pixels_and_drawn_there(tmp_path, detectors):
    run = tmp_path / "run"
    train(TrainConfig(model="_test_fixeddet", data="test-painted-det", epochs=1, batch_size=16, aug="none", out=str(run), progress=False))
    image = _save_grey(tmp_path / "wide.png", 128, 256)  # the run's images are 64 × 64: x scales by 4, y by 2
    r = runner.invoke(app, ["predict", str(run), str(image), "--out", str(tmp_path / "p"), "--json"])
    assert r.exit_code == 0, r.output
    (box,) = json.loads(r.output)[0]["boxes"]
    x1, y1, x2, y2 = spine.FIXED_BOX
    assert box["box"] == [x1 * 4, y1 * 2, x2 * 4, y2 * 2] and box["label"] == spine.FIXED_LABEL and box["class"] == "c"
    from cnnzoo.train.draw_boxes import class_colour

    drawn = np.asarray(Image.open(tmp_path / "p" / "wide-boxes.png").convert("RGB"))
    k = 3  # 128 px enlarged to at least 384
    assert tuple(drawn[int(y2 * 2 * k), int((x1 + x2) * 2 * k)]) == class_colour(spine.FIXED_LABEL)  # the bottom edge of the box


def test_predict_refuses_bad_images_and_settings_in_one_line(tmp_path, detectors):
    run = tmp_path / "run"
    train(TrainConfig(model="_test_fixeddet", data="test-painted-det", epochs=1, batch_size=16, aug="none", out=str(run), progress=False))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    r = runner.invoke(app, ["predict", str(run), str(bad)])
    assert r.exit_code == 2 and "bad.png" in _one_error_line(r.output)
    for flag, value, message in [
        ("--score-threshold", "1.5", "--score-threshold must be in [0, 1); got 1.5"),
        ("--nms-iou", "0", "--nms-iou must be an IoU in (0, 1]; got 0.0"),
        ("--max-detections", "0", "--max-detections must be a positive integer; got 0"),
    ]:
        r = runner.invoke(app, ["predict", str(run), str(bad), flag, value])
        assert r.exit_code == 2 and message in _one_error_line(r.output)


def test_predict_passes_the_post_processing_settings_to_the_detector(tmp_path, detectors, monkeypatch):
    run = tmp_path / "run"
    train(TrainConfig(model="_test_fixeddet", data="test-painted-det", epochs=1, batch_size=16, aug="none", out=str(run), progress=False))
    seen = {}
    monkeypatch.setattr(spine.FixedDetector, "set_postprocess", lambda self, **kw: seen.update(kw))
    image = _save_grey(tmp_path / "x.png", 64, 64)
    r = runner.invoke(app, ["predict", str(run), str(image), "--out", str(tmp_path / "p"), "--score-threshold", "0.3", "--nms-iou", "0.6", "--max-detections", "7"])
    assert r.exit_code == 0, r.output
    assert seen == {"score_threshold": 0.3, "nms_threshold": 0.6, "max_detections": 7}


@pytest.mark.parametrize("flag", ["--score-threshold", "--nms-iou", "--max-detections"])
def test_the_post_processing_options_are_documented(flag):
    r = runner.invoke(app, ["predict", "--help"], terminal_width=200)
    assert flag in r.output
