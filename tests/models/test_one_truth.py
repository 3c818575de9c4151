"""One network per registry entry: what ``cnnzoo list`` counts, what ``create(name)``
builds, what ``cnnzoo.analyze(name)`` analyses and what training builds are the same.

Each is reached through its own code path (the CLI's counter, the front door,
the analysis entry point, the training setup's keyword assembly), all on the
meta device, so a registry entry that applied keyword arguments of its own,
or a path that added some, would show here as a different parameter list.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.cli.zoo import _count_params
from cnnzoo.registry import ModelInfo, get_model_info, register_model
from cnnzoo.train.config import TrainConfig
from cnnzoo.train.setup import _model_kwargs

NAMES = cnnzoo.list_models()
# docs/papers.md's rows by model: its "params (ours)" column must be the count create() gives.
PAPERS_ROWS = {
    row.split("|")[1].strip().strip("`"): row
    for row in (Path(__file__).resolve().parents[2] / "docs" / "papers.md").read_text(encoding="utf-8").splitlines()
    if row.startswith("| `")
}


def _meta(name: str, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return cnnzoo.create(name, **kwargs)


def test_an_entry_has_no_keyword_defaults_of_its_own():
    assert "defaults" not in inspect.signature(register_model).parameters
    assert "defaults" not in ModelInfo.__dataclass_fields__


@pytest.mark.parametrize("name", NAMES)
def test_list_create_analyze_and_training_build_one_network(name):
    info = get_model_info(name)
    model = _meta(name)
    n = sum(p.numel() for p in model.parameters())
    assert _count_params(name) == n, f"{name}: `cnnzoo list` counts another network than create()"

    c, s = info.input_size[0], info.min_size or 32
    size = info.test_size or (c, s, s)
    assert cnnzoo.analyze(name, size).params == n, f"{name}: analyze(name) counts another network"
    assert PAPERS_ROWS[name].split("|")[6].strip() == f"{n:,}", f"{name}: docs/papers.md shows another count"

    # Training builds create(model, **_model_kwargs(config, data)): the data decide
    # num_classes and in_chans, and nothing else may be added on the way.
    data = SimpleNamespace(num_classes=7, in_chans=c)
    assert _model_kwargs(TrainConfig(model=name), data) == {"num_classes": 7, "in_chans": c}


def test_inception_resnet_v2_is_the_released_network_by_default():
    # Its 55.8M (the authors' network) is what list, create and analyze all give;
    # figure 15 as printed stays available as layout="paper".
    default = sum(p.numel() for p in _meta("inception_resnet_v2").parameters())
    figure = sum(p.numel() for p in _meta("inception_resnet_v2", layout="paper").parameters())
    assert get_model_info("inception_resnet_v2").params.matches(default)
    assert not get_model_info("inception_resnet_v2").params.matches(figure)


def test_inception_resnet_v1_claims_no_count_the_paper_does_not_print():
    info = get_model_info("inception_resnet_v1")
    assert info.params is None and info.macs is None and info.no_reference
