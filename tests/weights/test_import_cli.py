"""``cnnzoo import-weights`` writes an ordinary run: load, predict with ImageNet names, fine-tune."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import cnnzoo
from cnnzoo.cli import app
from cnnzoo.weights import imagenet_class_names, load_weights
from cnnzoo.weights.mapping import load_manifest
from cnnzoo.weights.synthetic import synthetic_state_dict

runner = CliRunner()


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("import")
    path = tmp / "squeezenet1_1-b8a52dc0.pth"  # torchvision's file name: no --model, no --source
    torch.save(synthetic_state_dict(load_manifest("torchvision-squeezenet1_1")), path)
    r = runner.invoke(app, ["import-weights", str(path), "--out", str(tmp / "run")])
    assert r.exit_code == 0, r.output
    assert "torchvision squeezenet1_1" in r.output
    return path, tmp / "run"


def test_the_run_holds_the_same_model_and_the_source_normalisation(imported):
    path, run = imported
    ours = cnnzoo.load(str(run))
    ref, _ = load_weights(path)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), rtol=0, atol=0)
    meta = json.loads((run / "checkpoint-best.json").read_text())
    assert meta["normalize"]["mean"] == [0.485, 0.456, 0.406] and meta["normalize"]["size"] == [224, 224]
    assert meta["class_names"] == imagenet_class_names()


def test_predict_prints_imagenet_class_names(imported, tmp_path):
    image = tmp_path / "x.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3)).astype(np.uint8)).save(image)
    r = runner.invoke(app, ["predict", str(imported[1]), str(image), "--json", "-k", "2"])
    assert r.exit_code == 0, r.output
    names = set(imagenet_class_names())
    assert any(name in r.output for name in names - {""})


def test_a_second_import_into_the_same_run_needs_overwrite(imported):
    path, run = imported
    r = runner.invoke(app, ["import-weights", str(path), "--out", str(run)])
    assert r.exit_code == 2 and "error:" in r.output
    r = runner.invoke(app, ["import-weights", str(path), "--out", str(run), "--overwrite"])
    assert r.exit_code == 0, r.output


def test_refused_sources_fail_with_one_line(tmp_path):
    path = tmp_path / "googlenet-1378be20.pth"
    torch.save({"w": torch.zeros(1)}, path)
    r = runner.invoke(app, ["import-weights", str(path), "--out", str(tmp_path / "run")])
    assert r.exit_code == 2 and "5×5" in r.output and "Traceback" not in r.output


def test_fine_tuning_starts_from_the_imported_run(imported, tmp_path):
    from cnnzoo.train import TrainConfig, train

    rng = np.random.default_rng(0)
    root = tmp_path / "imgs"
    for name in ("hotdog", "not-hotdog"):
        (root / name).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (40, 40, 3)).astype(np.uint8)).save(root / name / f"{i}.png")
    out = tmp_path / "finetune"
    train(TrainConfig(model="squeezenet1_1", data=f"folder:{root}", init=str(imported[1]), epochs=1, batch_size=4, image_size=64, out=str(out), progress=False))
    tuned = cnnzoo.load(str(out))
    source = cnnzoo.load(str(imported[1]))
    with torch.no_grad():
        assert tuned.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 2)
    # the backbone came from the import (the first layer is trained, so only its shape and closeness)
    assert torch.allclose(tuned.features.conv1.weight, source.features.conv1.weight, atol=0.5)


def test_the_imported_run_exports_to_onnx(imported, tmp_path):
    pytest.importorskip("onnxruntime")
    r = runner.invoke(app, ["export", str(imported[1]), "--onnx", str(tmp_path / "m.onnx")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "m.onnx").exists()
