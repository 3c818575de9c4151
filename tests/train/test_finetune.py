"""Fine-tuning: copy all but the output layer, then train on new classes."""

from __future__ import annotations

import pytest
import torch

from cnnzoo import create
from cnnzoo.train import train
from cnnzoo.train.checkpoint import CheckpointError, load_checkpoint
from cnnzoo.train.finetune import head_names, param_groups


def test_heads_are_the_output_layers_the_model_names():
    model = create("lenet5", num_classes=7)
    heads = head_names(model)
    assert heads == ["classifier.output"]
    assert sorted(head_names(create("googlenet", num_classes=5, aux_logits=True))) == ["aux1.fc2", "aux2.fc2", "fc"]
    groups = param_groups(model, heads, 0.1, backbone_lr_mult=0.1)
    assert [g["lr"] for g in groups] == [pytest.approx(0.01), 0.1]
    head_params = {id(p) for n, p in model.named_parameters() if n.startswith(heads[0] + ".")}
    assert {id(p) for p in groups[1]["params"]} == head_params


def test_finetuning_reaches_accuracy_faster_than_scratch(tmp_path, quick):
    """ResNet-20 trained on digits 0–4, fine-tuned on 100 images of 5–9, against the same from scratch.

    On the 8×8 digits (ResNet-20 takes them as they are; ``min_size`` is 4). With
    LeNet-5 the transfer is weak: its kept F6 layer has collapsed onto the five
    source classes, and a fresh LeNet-5 learns these digits in a few steps anyway.
    """
    common = dict(model="resnet20", image_size=8, batch_size=32, schedule="constant", aug="none")
    src = train(quick(tmp_path / "src", classes=[0, 1, 2, 3, 4], epochs=3, limit_train=None, **common))
    assert src.final["test_acc"] > 0.95
    target = dict(classes=[5, 6, 7, 8, 9], epochs=4, limit_train=100, **common)
    scratch = train(quick(tmp_path / "scratch", **target))
    tuned = train(quick(tmp_path / "tuned", init=str(tmp_path / "src" / "checkpoint-last"), **target))

    def first_epoch_at(run, acc=0.85):
        return next((r["epoch"] for r in run.rows if r["test_acc"] >= acc), None)

    accs = ([r["test_acc"] for r in scratch.rows], [r["test_acc"] for r in tuned.rows])
    assert first_epoch_at(tuned) is not None, accs
    assert first_epoch_at(scratch) is None or first_epoch_at(tuned) < first_epoch_at(scratch), accs
    # Every weight but the output layer started from the source model's.
    start = load_checkpoint(tmp_path / "src" / "checkpoint-last").model
    assert set(start) == set(tuned.model.state_dict()) and start["fc.weight"].shape[0] == 5


def test_freeze_backbone_trains_only_the_head(tmp_path, quick):
    train(quick(tmp_path / "src", epochs=1, classes=[0, 1, 2]))
    src = load_checkpoint(tmp_path / "src" / "checkpoint-last").model
    tuned = train(quick(tmp_path / "tuned", epochs=1, classes=[3, 4], init=str(tmp_path / "src" / "checkpoint-last"), freeze="backbone"))
    heads = head_names(tuned.model)
    after = tuned.model.state_dict()
    for k, v in src.items():
        if not any(k.startswith(h + ".") for h in heads) and v.dtype.is_floating_point and "running" not in k:
            assert torch.equal(after[k], v), k
    assert after[heads[0] + ".weight"].shape[0] == 2


def test_init_from_another_architecture_is_refused(tmp_path, quick):
    train(quick(tmp_path / "src", epochs=1))
    with pytest.raises(CheckpointError, match="same architecture"):
        train(quick(tmp_path / "x", model="resnet20", epochs=1, init=str(tmp_path / "src" / "checkpoint-last")))
