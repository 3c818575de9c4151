"""Every registered model, driven by the registry (as timm's tests are).

For each entry: the parameter count against the number the paper prints
(carried by the registry entry, ``src/cnnzoo/registry.py``), the output shape at
the paper's input size (on meta tensors: no compute), a real forward and
backward pass on a small input in which every parameter receives a finite
gradient, and a clear ``ValueError`` for an input one pixel too small.
"""

from __future__ import annotations

import pytest
import torch

import cnnzoo
from cnnzoo.detection import DetectorOutput
from cnnzoo.registry import get_model_info

NAMES = cnnzoo.list_models()


def _num_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _one_box_per_image(batch: int, size: tuple[int, int, int]) -> list[dict[str, torch.Tensor]]:
    # A detector's loss needs targets: one object of class 3 in the middle half of each image.
    _, h, w = size
    box = torch.tensor([[w / 4, h / 4, 3 * w / 4, 3 * h / 4]])
    return [{"boxes": box.clone(), "labels": torch.tensor([3])} for _ in range(batch)]


def _logits(out):
    # Models with auxiliary classifiers return (main, aux...) in training mode.
    return out[0] if isinstance(out, (tuple, list)) else out


def test_registry_is_not_empty_and_sorted_as_people_count():
    from cnnzoo.registry import natural_key

    assert "lenet5" in NAMES
    assert NAMES == sorted(NAMES, key=natural_key)
    resnets = [n for n in NAMES if n.startswith("resnet") and n[6:].isdigit()]
    assert resnets.index("resnet18") < resnets.index("resnet101")


@pytest.mark.parametrize("name", NAMES)
def test_entry_declares_reference_and_min_size(name):
    info = get_model_info(name)
    assert info.params is not None or info.no_reference, (
        f"{name}: give the paper's parameter count (params=) or say why there is none"
    )
    assert info.min_size is not None and info.min_size > 0
    assert info.task in ("classification", "segmentation", "detection")


@pytest.mark.parametrize("name", [n for n in NAMES if get_model_info(n).params is not None])
def test_parameter_count_matches_paper(name):
    info = get_model_info(name)
    with torch.device("meta"):
        model = cnnzoo.create(name)
    n = _num_params(model)
    ref = info.params
    assert ref.matches(n), f"{name}: {n:,} parameters, paper says {ref.text} (±{ref.tol:,.0f})"


@pytest.mark.parametrize("name", NAMES)
def test_output_shape_at_paper_size_on_meta(name):
    info = get_model_info(name)
    with torch.device("meta"):
        model = cnnzoo.create(name, num_classes=13).eval()
        out = _logits(model(torch.empty(1, *info.input_size)))
    if info.task == "detection":
        assert isinstance(out, DetectorOutput), f"{name}: forward returned {type(out).__name__}"
        assert all(p.shape[0] == 1 for p in out.predictions()), f"{name}: predictions are not batch-first"
    elif info.task == "classification":
        assert tuple(out.shape) == (1, 13)
    else:
        assert tuple(out.shape[:2]) == (1, 13)


@pytest.mark.parametrize("name", NAMES)
def test_too_small_input_names_the_smallest_size(name):
    info = get_model_info(name)
    c = info.input_size[0]
    with torch.device("meta"):
        model = cnnzoo.create(name, num_classes=5).eval()
        model(torch.empty(1, c, info.min_size, info.min_size))  # the smallest size works
        with pytest.raises(ValueError, match=str(info.min_size)):
            model(torch.empty(1, c, info.min_size - 1, info.min_size - 1))


@pytest.mark.parametrize("name", NAMES)
def test_forward_backward_every_parameter_gets_a_gradient(name):
    info = get_model_info(name)
    c = info.input_size[0]
    size = info.test_size or (c, info.min_size, info.min_size)
    torch.manual_seed(0)
    model = cnnzoo.create(name, num_classes=7).train()
    batch = 1 if info.task == "detection" else 2  # a detector's RoI head already sees a batch of regions
    out = model(torch.randn(batch, *size))
    if info.task == "detection":
        loss = out.loss(_one_box_per_image(batch, size))
        assert loss.dim() == 0 and torch.isfinite(loss), f"{name}: loss {loss}"
        loss.backward()
    else:
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        logits = outs[0]
        assert logits.shape[:2] == (2, 7)
        sum(o.float().square().mean() for o in outs).backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"{name}: no gradient for {missing[:5]}"
    bad = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not bad, f"{name}: non-finite gradient in {bad[:5]}"


def test_unknown_name_suggests_close_names():
    with pytest.raises(ValueError, match="lenet5"):
        cnnzoo.create("lenet")


def test_unknown_keyword_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match="lenet5: .*'widht_mult'"):
        cnnzoo.create("lenet5", widht_mult=2)


def test_create_records_spec_for_checkpoints():
    m = cnnzoo.create("lenet5", num_classes=4, c3_table="partial")
    assert m.cnnzoo_spec == {"name": "lenet5", "kwargs": {"num_classes": 4, "c3_table": "partial"}}
