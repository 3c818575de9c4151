"""TrainConfig: declared once, checked field by field before any data loads, loaded from files."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from cnnzoo.data.augment import AUGMENTATIONS
from cnnzoo.train import TrainConfig, train
from cnnzoo.train import config as config_module
from cnnzoo.train.config import ConfigError, settings
from cnnzoo.train.losses import LOSSES
from cnnzoo.train.optim import OPTIMIZERS
from cnnzoo.train.schedules import SCHEDULES

# The defaults other code and saved runs rely on; a change here is a change of recipe.
KNOWN_DEFAULTS = {
    "model": "lenet5", "data": "digits", "epochs": 40, "batch_size": 32, "optimizer": "adamw", "lr": None,
    "weight_decay": 5e-4, "momentum": 0.9, "schedule": "onecycle", "warmup_epochs": 0.0, "aug": "auto",
    "label_smoothing": 0.0, "aux_weight": 0.3, "out": None, "resume": None, "seed": 0, "device": "auto",
    "model_kwargs": {}, "num_workers": 0, "limit_train": None, "progress": True, "val_split": 0.0, "classes": None,
    "image_size": None, "loss": "auto", "l1": 0.0, "clip_grad_norm": None, "clip_grad_value": None, "patience": None, "stop_at": None,
    "plateau_patience": 2, "threshold": 0.5, "precision": "fp32", "channels_last": None, "compile": False,
    "pin_memory": True, "persistent_workers": True, "peak_tflops": None, "checkpoint_every": 0, "max_steps": None,
    "sync_bn": False, "init": None, "freeze": None, "backbone_lr_mult": 1.0, "overwrite": False, "logger": "csv",
}  # fmt: skip


def test_every_field_is_declared_with_help_and_the_defaults_are_kept():
    assert TrainConfig().to_dict() == KNOWN_DEFAULTS
    for name, (_, _, s) in settings().items():
        assert s.help.strip(), name
    TrainConfig().validate()


def test_an_unknown_optimizer_is_named_with_the_accepted_names():
    with pytest.raises(ConfigError) as e:
        TrainConfig(optimizer="bogus").validate()
    assert e.value.field == "optimizer" and str(e.value).startswith("optimizer ")
    assert "'bogus'" in str(e.value) and all(name in str(e.value) for name in OPTIMIZERS)


@pytest.mark.parametrize(
    ("field", "value", "table"),
    [("schedule", "poly", SCHEDULES), ("loss", "mse", LOSSES), ("aug", "mixup", AUGMENTATIONS), ("precision", "fp8", ("fp32", "bf16", "fp16"))],
)
def test_names_are_checked_against_their_tables(field, value, table):
    with pytest.raises(ConfigError, match=f"^{field} '{value}' is unknown; accepted: ") as e:
        TrainConfig(**{field: value}).validate()
    assert all(name in str(e.value) for name in table)
    if field in ("loss", "aug"):
        TrainConfig(**{field: "auto"}).validate()  # resolved later, with the data set


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("lr", math.inf), ("lr", math.nan), ("lr", 0), ("lr", -1), ("lr", "0.1"), ("warmup_epochs", -2),
        ("epochs", 99999999999999999999), ("epochs", 0), ("epochs", 3.0), ("epochs", True), ("batch_size", 1e12),
        ("num_workers", 100000), ("num_workers", -1), ("max_steps", 10**15), ("image_size", 10**6), ("seed", -1),
        ("val_split", 1.0), ("label_smoothing", -0.1), ("stop_at", 0), ("threshold", 1), ("momentum", math.nan),
        ("weight_decay", -1e-4), ("clip_grad_norm", 0.0), ("progress", 1), ("classes", [0, "1"]), ("classes", [-1]),
        ("classes", []), ("classes", [1, 1]), ("device", "gpu"), ("device", "cuda:x"), ("freeze", "all"),
        ("logger", "csv,wandb"), ("logger", ""), ("model_kwargs", {"not a name": 1}), ("model", "resnt"),
        ("data", "imagenet:/x"), ("data", "cifar10"), ("data", None),
    ],
)  # fmt: skip
def test_bad_values_are_refused_naming_the_field(field, value):
    with pytest.raises(ConfigError) as e:
        TrainConfig(**{field: value}).validate()
    assert e.value.field == field and str(e.value).startswith(f"{field} "), str(e.value)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [("lr", 1), ("lr", 0.3), ("warmup_epochs", 2), ("classes", [0, 3]), ("device", "cuda:1"), ("freeze", None), ("stop_at", 1)],
)
def test_good_values_pass(field, value):
    TrainConfig(**{field: value}).validate()


def test_workers_are_capped_at_the_usable_cpus():
    cpus = config_module._usable_cpus()
    TrainConfig(num_workers=cpus).validate()
    with pytest.raises(ConfigError, match=f"num_workers must be an integer from 0 to {cpus}"):
        TrainConfig(num_workers=cpus + 1).validate()


def test_cross_field_rules_name_both_fields():
    with pytest.raises(ConfigError) as e:
        TrainConfig(freeze="backbone").validate()
    assert e.value.field == "freeze" and e.value.mentions == ("init",)
    assert e.value.render(lambda n: f"--{n}") == "--freeze backbone needs --init (the checkpoint whose backbone is kept)"
    with pytest.raises(ConfigError, match="^overwrite .*resume"):
        TrainConfig(overwrite=True, resume="runs/x").validate()


def test_tensorboard_without_the_extra_is_refused_before_training(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    with pytest.raises(ConfigError, match=r"logger .*pip install 'cnnzoo\[tensorboard\]'"):
        TrainConfig(logger="csv,tensorboard").validate()


def test_train_refuses_a_bad_config_before_loading_data(monkeypatch):
    import cnnzoo.data.datasets as datasets

    def no_data(*a, **k):
        raise AssertionError("data was loaded")

    monkeypatch.setattr(datasets, "build_data", no_data)
    with pytest.raises(ConfigError, match="^optimizer 'bogus' is unknown; accepted: sgd"):
        train(TrainConfig(optimizer="bogus", progress=False))


def test_from_dict_round_trips_and_refuses_unknown_keys():
    cfg = TrainConfig(model="resnet20", epochs=3, lr=0.01, classes=[0, 1], model_kwargs={"width": 2}, logger="csv")
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ConfigError, match=r"^epoch \(in here.yaml\) is not a training setting; did you mean epochs") as e:
        TrainConfig.from_dict({"epoch": 3}, source="here.yaml")
    assert e.value.field == "epoch"


def test_a_runs_config_json_loads_back(tmp_path):
    cfg = TrainConfig(epochs=3, lr=0.005, aug="digits", loss="cross_entropy", out=str(tmp_path))
    record = cfg.to_dict() | {"data_info": {"name": "digits", "num_classes": 10}, "world_size": 1, "macs_per_image": 123}
    (tmp_path / "config.json").write_text(json.dumps(record, indent=2))
    loaded = TrainConfig.from_file(tmp_path / "config.json")
    assert loaded == cfg
    loaded.validate()


def test_yaml_and_toml_files_load(tmp_path):
    (tmp_path / "a.yaml").write_text("epochs: 3\nlr: 5e-3\nclasses: [0, 1]\nprogress: false\nmodel_kwargs: {padding: true}\n")
    (tmp_path / "a.toml").write_text('epochs = 3\nlr = 5e-3\nclasses = [0, 1]\nprogress = false\n[model_kwargs]\npadding = true\n')
    want = TrainConfig(epochs=3, lr=5e-3, classes=[0, 1], progress=False, model_kwargs={"padding": True})
    for name in ("a.yaml", "a.toml"):
        assert TrainConfig.from_file(tmp_path / name) == want, name
    (tmp_path / "empty.yml").write_text("")
    assert TrainConfig.from_file(tmp_path / "empty.yml") == TrainConfig()


@pytest.mark.parametrize(
    ("name", "text", "match"),
    [
        ("x.yaml", "epochs: 3\nbatchsize: 8\n", r"^batchsize \(in .*x.yaml\) is not a training setting"),
        ("x.toml", "epochs = 3\n[extra]\n", r"^extra \(in .*x.toml\)"),
        ("x.yaml", "epochs: [3\n", r"^config .*x.yaml: not valid YAML"),
        ("x.toml", "epochs = \n", r"^config .*x.toml: not valid TOML"),
        ("x.json", "{epochs: 3}", r"^config .*x.json: not valid JSON"),
        ("x.yaml", "- 3\n", r"^config .*x.yaml: expected a mapping"),
        ("x.ini", "epochs=3", r"^config .*x.ini: expected a .yaml, .yml, .toml or .json file"),
    ],
)
def test_bad_files_are_one_line_errors_naming_the_file(tmp_path, name, text, match):
    (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError, match=match) as e:
        TrainConfig.from_file(tmp_path / name)
    assert "\n" not in str(e.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml: cannot read it"):
        TrainConfig.from_file(tmp_path / "nope.yaml")


def test_types_in_a_file_are_checked_like_any_other_value(tmp_path):
    (tmp_path / "x.yaml").write_text("epochs: 2.5\n")
    cfg = TrainConfig.from_file(tmp_path / "x.yaml")
    with pytest.raises(ConfigError, match="^epochs must be an integer"):
        cfg.validate()
    assert dataclasses.replace(cfg, epochs=2).validate() is None
