"""``cnnzoo eval``, ``predict`` and ``export`` on a real (briefly trained) checkpoint."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from cnnzoo.cli import app
from cnnzoo.train import TrainConfig, train
from cnnzoo.train.export import check_onnx, export_onnx, onnx_session
from cnnzoo.train.quantize import quantize_fx

runner = CliRunner()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("lenet")
    train(TrainConfig(epochs=3, limit_train=600, out=str(out), progress=False))
    return out


def test_eval_center_and_10crop(run_dir):
    r = runner.invoke(app, ["eval", str(run_dir), "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    assert rep["num_samples"] == 450 and rep["top1"] > 0.8 and rep["top5"] >= rep["top1"]
    assert sum(map(sum, rep["confusion"])) == 450
    assert (run_dir / "confusion-center.png").exists()
    r = runner.invoke(app, ["eval", str(run_dir), "--tta", "10crop", "--scales", "36"])
    assert r.exit_code == 0 and "10crop" in r.output


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--tta", "12crop"], "accepted"),
        (["--scales", "a,b"], "--scales"),
        (["--model", "resnet18"], "holds a lenet5"),
    ],
)
def test_eval_bad_input(run_dir, args, needle):
    r = runner.invoke(app, ["eval", str(run_dir), *args])
    assert r.exit_code == 2 and needle in r.output and "Traceback" not in r.output


def test_eval_rejects_a_data_set_with_other_classes(run_dir, tmp_path):
    for c in ("cat", "dog", "eel"):
        (tmp_path / c).mkdir()
        for i in range(5):
            Image.fromarray(np.full((32, 32), 40 * i, np.uint8)).save(tmp_path / c / f"{i}.png")
    r = runner.invoke(app, ["eval", str(run_dir), "--data", f"folder:{tmp_path}"])
    assert r.exit_code == 2 and "10 classes" in r.output and "3" in r.output


def test_predict_reads_image_files(run_dir, tmp_path):
    from cnnzoo.data.digits import load_digits_arrays

    a = load_digits_arrays(size=32)
    i = int(np.flatnonzero(a.y_test == 7)[0])
    path = tmp_path / "seven.png"
    Image.fromarray((a.x_test[i, 0] * 255).astype(np.uint8)).save(path)
    r = runner.invoke(app, ["predict", str(run_dir), str(path), "--json", "-k", "3"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)[0]
    assert len(out["top"]) == 3 and out["top"][0]["name"] == "7"
    bad = tmp_path / "not-an-image.png"
    bad.write_text("hello")
    r = runner.invoke(app, ["predict", str(run_dir), str(bad)])
    assert r.exit_code == 2 and "not an image" in r.output


def test_export_onnx_folds_and_matches(run_dir, tmp_path):
    out = tmp_path / "lenet.onnx"
    r = runner.invoke(app, ["export", str(run_dir), "--onnx", str(out), "--fold-bn", "--dynamic-batch", "--int8"])
    assert r.exit_code == 0, r.output
    sess = onnx_session(out)
    assert sess.run(None, {"input": np.zeros((4, 1, 32, 32), np.float32)})[0].shape == (4, 10)
    assert (tmp_path / "lenet.int8.onnx").exists()


def test_export_to_an_unwritable_place_is_one_line(run_dir):
    r = runner.invoke(app, ["export", str(run_dir), "--onnx", "/proc/cnnzoo/x.onnx"])
    assert r.exit_code == 2 and "cannot write" in r.output and "Traceback" not in r.output


def test_onnx_of_a_batchnorm_network_matches_eager(tmp_path):
    import cnnzoo
    from cnnzoo.layers.fold_bn import fold_batchnorm

    torch.manual_seed(0)
    model = cnnzoo.create("resnet18", num_classes=10).eval()
    folded = fold_batchnorm(model, torch.randn(2, 3, 64, 64))
    path = export_onnx(folded, tmp_path / "r18.onnx", (3, 64, 64))
    assert check_onnx(path, model, (3, 64, 64)) < 1e-4


def test_int8_lenet_keeps_its_accuracy(run_dir):
    import cnnzoo
    from cnnzoo.data.digits import load_digits_arrays
    from cnnzoo.train.checkpoint import load_checkpoint

    model = cnnzoo.load(run_dir / "checkpoint-last")
    norm = load_checkpoint(run_dir / "checkpoint-last")["meta"]["normalize"]
    mean, std = norm["mean"][0], norm["std"][0]
    a = load_digits_arrays(size=32)
    xtr = (torch.from_numpy(a.x_train[:256]) - mean) / std
    xte, yte = (torch.from_numpy(a.x_test) - mean) / std, torch.from_numpy(a.y_test)
    q = quantize_fx(model, xtr.split(64))
    with torch.no_grad():
        acc_f = (model(xte).argmax(1) == yte).float().mean().item()
        acc_q = (q(xte).argmax(1) == yte).float().mean().item()
    assert abs(acc_f - acc_q) < 0.02
