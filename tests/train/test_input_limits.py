"""Numbers and names checked before anything is allocated: one-line errors instead of tracebacks and OOM kills."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from typing import Literal

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from cnnzoo.cli import app
from cnnzoo.registry import (
    ModelArgumentError,
    ModelInfo,
    check_model_kwargs,
    create,
    get_model_info,
    register_model,
)
from cnnzoo.train import TrainConfig, memory_budget, setup
from cnnzoo.train import distributed as D
from cnnzoo.train.config import ConfigError
from cnnzoo.train.memory_budget import MemoryBudgetError, check_fits

runner = CliRunner()
GB = 10**9


def _one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    return " ".join(output.split())


def _limit(monkeypatch, n_bytes: int) -> None:
    # A fixed limit, so the tests do not depend on what this machine has free.
    monkeypatch.setattr(memory_budget, "available_bytes", lambda device: (n_bytes, "test limit"))


# ---------------------------------------------------------------- builder keywords are typed


@pytest.mark.parametrize(
    ("name", "kwargs", "words"),
    [
        ("mobilenet_v1", {"width_mult": "abc"}, "width_mult must be a number; got 'abc'"),
        ("resnext50_32x4d", {"base_width": 16.5}, "base_width must be an integer; got 16.5"),
        ("lenet5", {"num_classes": True}, "num_classes must be an integer; got True"),  # a bool is not an int
        ("resnet50", {"stochastic_depth": "0.1"}, "stochastic_depth must be a number or None"),
    ],
)
def test_a_builder_keyword_of_the_wrong_type_is_refused_by_name(name, kwargs, words):
    with pytest.raises(ModelArgumentError) as e:
        create(name, **kwargs)
    assert str(e.value) == f"{name}: {words}" or str(e.value).startswith(f"{name}: {words}")


def test_an_int_is_a_fine_float_and_none_is_fine_where_allowed():
    with torch.device("meta"):
        model = create("mobilenet_v1", width_mult=1, num_classes=3)
        create("resnet50", stochastic_depth=None, num_classes=3)
        create("resnet50", stochastic_depth=1, num_classes=3)
    assert model.cnnzoo_spec["kwargs"] == {"width_mult": 1, "num_classes": 3}


def _builder(mode: Literal["a", "b"] = "a", scale: float | None = None, flag: bool = False) -> nn.Module:
    return nn.Identity()


def test_literal_and_bool_annotations_are_checked():
    info = ModelInfo(name="toy", builder=_builder, family="toy", paper="-", year=2000)
    check_model_kwargs(info, {"mode": "b", "scale": 2, "flag": True})
    with pytest.raises(ModelArgumentError, match=r"^toy: mode must be one of 'a', 'b'; got 'c'$"):
        check_model_kwargs(info, {"mode": "c"})
    with pytest.raises(ModelArgumentError, match=r"^toy: flag must be True or False; got 1$"):
        check_model_kwargs(info, {"flag": 1})


def test_a_model_is_registered_with_a_task_setup_knows():
    with pytest.raises(ValueError, match=r"^model '_builder': task must be one of classification, segmentation, detection; got 'depth'$"):
        register_model(family="toy", paper="-", year=2000, task="depth")(_builder)
    assert get_model_info("unet").task == get_model_info("fcn8s").task == "segmentation"
    assert get_model_info("resnet50").task == "classification"


def test_summary_with_a_mistyped_arg_is_one_line():
    r = runner.invoke(app, ["summary", "mobilenet_v1", "--arg", "width_mult=abc"])
    assert r.exit_code == 2
    assert "mobilenet_v1: width_mult must be a number; got 'abc'" in _one_error_line(r.output)
    assert "not supported between" not in r.output


def test_shufflenet_width_mult_too_small_for_its_stem_names_the_keyword():
    with pytest.raises(ValueError, match=r"^width_mult must be at least 1/24 .*got 0\.01$"):
        create("shufflenet_v1", width_mult=0.01)


# ---------------------------------------------------------------- config bounds


def test_num_classes_in_the_builder_arguments_has_an_upper_bound():
    with pytest.raises(ConfigError, match=r"^model_kwargs num_classes must be an integer from 1 to 1000000; got 10000000000$"):
        TrainConfig(model_kwargs={"num_classes": 10**10}).validate()
    with pytest.raises(ConfigError, match="num_classes must be an integer"):
        TrainConfig(model_kwargs={"num_classes": 0}).validate()
    TrainConfig(model_kwargs={"num_classes": 21841}).validate()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--arg", "num_classes=10000000000"], "--arg num_classes must be an integer from 1 to 1000000; got 10000000000"),
        (["--image-size", "100000"], "--image-size must be an integer from 1 to 16384; got 100000"),
        (["--lr", "inf"], "--lr must be a finite number > 0; got inf"),
        (["--warmup-epochs", "-2"], "--warmup-epochs must be a finite number in [0, 1000000]; got -2.0"),
        (["--epochs", "99999999999999999999"], "--epochs must be an integer from 1 to 1000000"),
        (["--batch-size", "1e12"], "--batch-size must be an integer"),
    ],
)
def test_out_of_range_numbers_are_refused_by_the_cli(args, message, tmp_path):
    r = runner.invoke(app, ["train", "lenet5", "--out", str(tmp_path / "run"), "-q", *args])
    assert r.exit_code == 2
    assert message in _one_error_line(r.output)
    assert not (tmp_path / "run").exists()


def test_workers_are_capped_at_the_usable_cpus_and_the_message_says_how_many(tmp_path):
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    r = runner.invoke(app, ["train", "lenet5", "--out", str(tmp_path / "run"), "-q", "--workers", str(cpus + 1)])
    assert r.exit_code == 2
    assert f"--workers must be an integer from 0 to {cpus}; got {cpus + 1}" in _one_error_line(r.output)


# ---------------------------------------------------------------- memory, before anything is built


def test_an_image_size_that_cannot_fit_is_refused_before_the_data_is_read(tmp_path, monkeypatch):
    _limit(monkeypatch, 8 * GB)
    # The folder does not exist: reaching the data would be a different error.
    cfg = TrainConfig(model="resnet50", data=f"folder:{tmp_path / 'missing'}", image_size=4096, out=str(tmp_path / "run"), device="cpu")
    with pytest.raises(MemoryBudgetError) as e:
        setup(cfg)
    text = str(e.value)
    assert text.startswith("resnet50 at 3×4096×4096, batch 32, needs at least ")
    assert "but 8.0 GB is available (test limit); lower --image-size, --batch-size" in text
    assert not (tmp_path / "run").exists()


def test_a_huge_classifier_is_refused_by_its_weights_before_the_data_is_read(tmp_path, monkeypatch):
    _limit(monkeypatch, 100 * 10**6)
    cfg = TrainConfig(data=f"folder:{tmp_path / 'missing'}", model_kwargs={"num_classes": 1_000_000}, out=str(tmp_path / "run"))
    with pytest.raises(MemoryBudgetError, match=r"needs at least 1\.4 GB \(weights, gradients and optimizer state\) but 100\.0 MB"):
        setup(cfg)


def test_the_estimate_counts_weights_four_times_and_grows_with_the_batch():
    device = torch.device("cpu")
    one = check_fits("lenet5", {"in_chans": 1}, (1, 32, 32), 1, device, "x")
    many = check_fits("lenet5", {"in_chans": 1}, (1, 32, 32), 64, device, "x")
    weights = 4 * 61706 * 4
    assert one is not None and weights < one < weights + 10**6
    assert many > one + 63 * 32 * 32 * 4  # at least the 63 more input images


def test_the_cli_prints_the_estimate_and_the_limit(tmp_path, monkeypatch):
    _limit(monkeypatch, 2 * GB)
    r = runner.invoke(app, ["train", "vgg19", "--data", f"folder:{tmp_path}", "--image-size", "2048", "--out", str(tmp_path / "run"), "-q"])
    assert r.exit_code == 2
    text = _one_error_line(r.output)
    assert "vgg19 at 3×2048×2048, batch 32, needs at least" in text and "but 2.0 GB is available" in text


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_the_limit_is_the_free_device_memory():
    free, source = memory_budget.available_bytes(torch.device("cuda", 0))
    assert 0 < free <= torch.cuda.get_device_properties(0).total_memory and "cuda" in source
    with pytest.raises(MemoryBudgetError, match="is available \\(free on cuda:0\\)"):
        check_fits("vgg19", {}, (3, 8192, 8192), 64, torch.device("cuda", 0), "x")


# ---------------------------------------------------------------- the model must fit the data


def test_a_segmentation_model_on_classification_data_says_so(tmp_path):
    cfg = TrainConfig(model="unet", data="digits", out=str(tmp_path / "run"))
    with pytest.raises(ConfigError, match=r"^data digits has a label per image, but unet is a segmentation model: it needs a mask per image"):
        setup(cfg)
    assert not (tmp_path / "run").exists()


def test_a_classifier_on_segmentation_data_says_so(tmp_path):
    r = runner.invoke(app, ["train", "lenet5", "--data", "digits-seg", "--out", str(tmp_path / "run"), "-q"])
    assert r.exit_code == 2
    assert "--data digits-seg has a mask per image, but lenet5 is a classification model" in _one_error_line(r.output)


def test_an_explicit_num_classes_that_disagrees_with_the_data_is_an_error(tmp_path):
    r = runner.invoke(app, ["train", "lenet5", "--arg", "num_classes=5", "--out", str(tmp_path / "run"), "-q"])
    assert r.exit_code == 2
    assert "--arg num_classes=5 disagrees with the data: digits has 10 classes" in _one_error_line(r.output)


def test_an_explicit_num_classes_that_agrees_with_the_data_is_kept(tmp_path, quick):
    run = setup(quick(tmp_path / "run", classes=[0, 1, 2, 3, 4], model_kwargs={"num_classes": 5}))
    try:
        assert run.meta.num_classes == 5 and run.module(torch.zeros(1, 1, 32, 32)).shape == (1, 5)
    finally:
        run.run_dir.close()


# ---------------------------------------------------------------- a diverging NumPy run


def test_a_diverging_numpy_run_stops_with_one_line(tmp_path):
    r = runner.invoke(app, ["scratch", "train", "--lr", "100", "--optimizer", "sgd", "--epochs", "2", "--out", str(tmp_path / "run"), "-q"])
    assert r.exit_code == 2
    text = _one_error_line(r.output)
    assert "the loss became nan" in text and "of epoch 1; lower --lr" in text
    assert "The last good checkpoint is kept: none was written before" in text
    assert "Warning" not in r.output and "test accuracy" not in r.output


def test_a_numpy_run_diverging_later_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    from cnnzoo.scratch import train as scratch_train
    from cnnzoo.train.checkpoint import load_checkpoint
    from cnnzoo.train.scratch_run import run_scratch
    from cnnzoo.train.state import TrainingDiverged

    real, calls = scratch_train.train_epoch, []

    def blow_up_in_epoch_2(model, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            for p in model.parameters():  # what a far too large step does
                p.data[...] = float("inf")
            return 0.1, 0.5
        return real(model, *args, **kwargs)

    monkeypatch.setattr(scratch_train, "train_epoch", blow_up_in_epoch_2)
    cfg = scratch_train.ScratchConfig(epochs=3, batch_size=128)
    with pytest.raises(TrainingDiverged) as e:
        run_scratch(cfg, tmp_path / "run")
    assert str(e.value).startswith("the weights became NaN or infinite in epoch 2")
    assert str(e.value).endswith(f"kept: {tmp_path / 'run' / 'checkpoint-last'} (after epoch 1)")
    assert load_checkpoint(tmp_path / "run" / "checkpoint-last").meta.epoch == 1


@pytest.mark.parametrize(("args", "message"), [(["--lr", "inf"], "--lr must be a finite number > 0; got inf"),
                                               (["--lr", "nan"], "--lr must be a finite number > 0; got nan"),
                                               (["--weight-decay", "-1"], "--weight-decay must be a finite number >= 0"),
                                               (["--epochs", "99999999999999999999"], "epochs must be at most 1000000"),
                                               (["--batch-size", "2000000"], "batch_size at most 1048576")])  # fmt: skip
def test_scratch_numbers_are_checked(args, message, tmp_path):
    r = runner.invoke(app, ["scratch", "train", "--out", str(tmp_path / "run"), "-q", *args])
    assert r.exit_code == 2 and message in _one_error_line(r.output)


# ---------------------------------------------------------------- a manual distributed launch


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RANK": "0", "WORLD_SIZE": "2"}, "WORLD_SIZE=2 asks for a distributed run, but MASTER_ADDR and MASTER_PORT are not set; launch with torchrun"),
        ({"RANK": "1"}, "RANK=1 is set but WORLD_SIZE is not"),
        ({"WORLD_SIZE": "abc"}, "WORLD_SIZE must be an integer >= 1; got 'abc'"),
        ({"RANK": "2", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}, "RANK must be an integer from 0 to 1; got '2'"),
        ({"RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "99999"}, "MASTER_PORT must be an integer from 1 to 65535"),
    ],
)
def test_an_incomplete_launch_environment_is_named(env, message, monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(D.DistributedSetupError, match="^" + message.replace("(", r"\(")):
        D.init_distributed("cpu")
    assert not torch.distributed.is_initialized()


def test_a_missing_peer_is_reported_after_the_timeout_without_a_traceback(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = os.environ | {"OMP_NUM_THREADS": "1", "RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1",
                        "MASTER_PORT": str(port), "CNNZOO_DIST_TIMEOUT": "2"}  # fmt: skip
    cmd = [sys.executable, "-m", "cnnzoo", "train", "lenet5", "--device", "cpu", "-q", "--out", str(tmp_path / "run")]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "frame #" not in r.stderr
    assert r.stderr.strip().startswith(f"error: rank 0 of WORLD_SIZE=2 could not join the process group at 127.0.0.1:{port} within 2 s")
    assert "start all 2 processes" in r.stderr
