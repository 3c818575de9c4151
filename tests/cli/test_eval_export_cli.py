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
    assert rep["num_samples"] == 450 and rep["acc"] > 0.8 and rep["acc_top5"] >= rep["acc"]
    assert sum(map(sum, rep["confusion"])) == 450 and len(rep["per_class"]["f1"]) == 10
    report_dir = run_dir / "eval-digits-test-center"
    assert json.loads((report_dir / "evaluation.json").read_text())["acc"] == rep["acc"]
    assert (report_dir / "confusion.png").exists() and (report_dir / "roc.png").exists()
    r = runner.invoke(app, ["eval", str(run_dir), "--tta", "10crop", "--scales", "36"])
    assert r.exit_code == 0 and "10crop" in r.output


def test_eval_prints_a_per_class_table(run_dir):
    r = runner.invoke(app, ["eval", str(run_dir)])
    assert r.exit_code == 0, r.output
    for needle in ("top-1", "precision", "recall", "F1", "AUC"):
        assert needle in r.output
    assert "wrote" in r.output and "evaluation.json" in r.output


def test_eval_prints_results_when_plots_cannot_be_written(run_dir, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    r = runner.invoke(app, ["eval", str(run_dir), "--out", str(blocker / "report")])
    assert r.exit_code == 0, r.output
    assert "top-1" in r.output and "precision" in r.output
    assert "warning" in r.output and "could not create" in r.output and "Traceback" not in r.output


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--tta", "12crop"], "accepted"),
        (["--scales", "a,b"], "--scales"),
        (["--model", "resnet18"], "holds a lenet5"),
        (["--split", "train"], "--split"),
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


def test_predict_writes_masks_for_a_segmentation_run_and_eval_refuses_its_tta(tmp_path):
    import cnnzoo
    from cnnzoo.train.checkpoint import save_checkpoint
    from cnnzoo.train.meta import CheckpointMeta, Normalization

    kwargs = {"num_classes": 11, "in_chans": 1, "padding": True, "base_width": 2}
    meta = CheckpointMeta(
        model="unet", model_kwargs=kwargs, task="segmentation", data="digits-seg", data_name="digits-seg",
        num_classes=11, class_names=[], in_chans=1, normalize=Normalization(mean=[0.1], std=[0.3], size=[64, 64]),
    )  # fmt: skip
    save_checkpoint(tmp_path / "checkpoint-last", cnnzoo.create("unet", **kwargs), meta)
    image = tmp_path / "canvas.png"
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(image)
    r = runner.invoke(app, ["predict", str(tmp_path), str(image), "--out", str(tmp_path / "masks")])
    assert r.exit_code == 0, r.output
    mask = Image.open(tmp_path / "masks" / "canvas-mask.png")
    assert mask.mode == "P" and mask.size == (64, 64)
    assert (tmp_path / "masks" / "canvas-overlay.png").exists()
    r = runner.invoke(app, ["eval", str(tmp_path), "--tta", "dense"])
    assert r.exit_code == 2 and "segmentation" in r.output and "Traceback" not in r.output


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


def test_export_checkpoint_reports_what_it_wrote(run_dir, tmp_path):
    from cnnzoo.train.export import ExportError, export_checkpoint

    r = export_checkpoint(run_dir, tmp_path / "sub" / "m.onnx", fold_bn=True)
    assert r.onnx_path.is_file() and r.input_size == (1, 32, 32) and r.max_error < 1e-4
    assert r.folded_pairs is not None and r.int8_path is None and r.calibration_images == 0
    with pytest.raises(ExportError, match="cannot write /proc/cnnzoo"):
        export_checkpoint(run_dir, "/proc/cnnzoo/x.onnx")
    for c in ("red", "blue"):
        (tmp_path / "rgb" / c).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((32, 32, 3), 60 * i, np.uint8)).save(tmp_path / "rgb" / c / f"{i}.png")
    with pytest.raises(ValueError, match="3-channel images; the model takes 1"):
        export_checkpoint(run_dir, tmp_path / "q.onnx", int8=True, calibration_data=f"folder:{tmp_path / 'rgb'}")


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
    norm = load_checkpoint(run_dir / "checkpoint-last").meta.normalize
    mean, std = norm.mean[0], norm.std[0]
    a = load_digits_arrays(size=32)
    xtr = (torch.from_numpy(a.x_train[:256]) - mean) / std
    xte, yte = (torch.from_numpy(a.x_test) - mean) / std, torch.from_numpy(a.y_test)
    q = quantize_fx(model, xtr.split(64))
    with torch.no_grad():
        acc_f = (model(xte).argmax(1) == yte).float().mean().item()
        acc_q = (q(xte).argmax(1) == yte).float().mean().item()
    assert abs(acc_f - acc_q) < 0.02
