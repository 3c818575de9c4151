"""The one model interface (timm's contract) on every registry entry.

Every registered model is a ``ClassifierInterface``: in eval mode ``forward(x)``
equals ``forward_head(forward_features(x))`` exactly, the features are a 4-D
map, ``get_classifier()`` is the Linear or Conv2d layer whose outputs are the
classes, and ``reset_classifier(n)`` leaves the network laid out as if built
with ``n`` classes (auxiliary heads included) while every parameter that does
not depend on the number of classes stays as it was.

Cost. Each model runs on the smallest input it accepts, and is built without
its builder's random initialisation: drawing 10⁸ random numbers is what makes
building slow, and these checks need finite, varied weights, not the paper's
(:func:`_fill` writes a fixed pattern instead). Models over :data:`GIANT`
parameters (VGG, FCN, SENet-154, Wide ResNet-101-2) run on meta tensors, since
writing and reading their 10⁸ weights still costs seconds and FCN runs a
200×200 VGG-16 pass whatever the input; for them the equality of ``forward``
and ``forward_head(forward_features(x))`` is one of shapes, and "unchanged"
means the very same parameter objects. FCN's split, the one that is not a
plain cut through the network, also gets one real check.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Iterator
from unittest import mock

import pytest
import torch
from torch import Tensor, nn

import cnnzoo
from cnnzoo.detection import DetectorOutput
from cnnzoo.models.interface import ClassifierInterface, fresh_output_layer
from cnnzoo.registry import get_model_info

NAMES = cnnzoo.list_models()
NUM_CLASSES = 5  # the models are built with this many classes, then reset to NEW_CLASSES
NEW_CLASSES = 7
GIANT = 100e6  # parameters above which a model is checked on meta tensors
_PERIOD = 1 << 20  # length of the pattern _fill tiles the weights with


@contextlib.contextmanager
def _no_random_init() -> Iterator[None]:
    # Builders and PyTorch's layers initialise through torch.nn.init; with its
    # functions made no-ops the weights stay allocated but never written.
    names = [n for n in dir(nn.init) if n.endswith("_") and not n.startswith("_")]
    with contextlib.ExitStack() as stack:
        for n in names:
            stack.enter_context(mock.patch.object(nn.init, n, _leave_as_is))
        yield


def _leave_as_is(tensor: Tensor, *args, **kwargs) -> Tensor:
    return tensor


def _skeleton(name: str, num_classes: int, **kwargs) -> nn.Module:
    """``name`` built with uninitialised parameters (buffers are set as usual)."""
    with _no_random_init():
        return cnnzoo.create(name, num_classes=num_classes, **kwargs)


@functools.cache
def _pattern() -> Tensor:
    values = torch.rand(_PERIOD, generator=torch.Generator().manual_seed(0)) * 2 - 1
    return torch.cat([values, values])  # any window of _PERIOD values is contiguous


def _fill(model: nn.Module) -> None:
    """Overwrite every parameter with a tiled pattern of the spread of a fan-in initialisation."""
    pattern = _pattern()
    with torch.no_grad():
        for i, p in enumerate(model.parameters()):
            flat = p.view(-1)
            start = i * 7919 % _PERIOD  # so that equal shapes get unequal weights
            for s in range(0, flat.numel(), _PERIOD):
                e = min(s + _PERIOD, flat.numel())
                flat[s:e].copy_(pattern[start : start + e - s])
            flat.mul_(math.sqrt(3.0 / p[0].numel()) if p.dim() > 1 else 0.1)


def _layout(model: nn.Module) -> dict[str, tuple[int, ...]]:
    tensors = [*model.named_parameters(), *model.named_buffers()]
    return {k: tuple(v.shape) for k, v in tensors}


def _input(name: str, batch: int, device: str) -> Tensor:
    info = get_model_info(name)
    torch.manual_seed(0)
    return torch.randn(batch, info.input_size[0], info.min_size, info.min_size, device=device)


def _outputs(out: Tensor | tuple[Tensor, ...]) -> list[Tensor]:
    # Models with auxiliary classifiers return (main, aux...) in training mode.
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _out_features(layer: nn.Module) -> int:
    return layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels


def _fingerprint(p: Tensor) -> float | None:
    return None if p.is_meta else float(p.detach().sum(dtype=torch.float64))


def _check_classifier(name: str, model: nn.Module, num_classes: int) -> None:
    assert isinstance(model, ClassifierInterface), f"{name}: {type(model).__name__}"
    head = model.get_classifier()
    assert isinstance(head, (nn.Linear, nn.Conv2d)), f"{name}: classifier {type(head).__name__}"
    layers = model.output_layers()
    assert next(iter(layers)) == model.classifier_names[0], f"{name}: no main classifier"
    sizes = {k: _out_features(m) for k, m in layers.items()}
    if _is_detector(name):
        # A detector adds a background class; a dense head scores every class for each of its boxes.
        assert _out_features(head) % (num_classes + 1) == 0, f"{name}: output layers {sizes}"
    else:
        assert set(sizes.values()) == {num_classes}, f"{name}: output layers {sizes}"


def _is_detector(name: str) -> bool:
    return get_model_info(name).task == "detection"


def _check_detector_split(name: str, model: nn.Module, x: Tensor) -> None:
    # A detector's forward is a DetectorOutput; its raw predictions must be the same either way.
    with torch.no_grad():
        out = model(x)
        head = model.forward_head(model.forward_features(x))
    assert isinstance(out, DetectorOutput) and isinstance(head, DetectorOutput), f"{name}: {type(out).__name__}"
    preds, head_preds = out.predictions(), head.predictions()
    assert [p.shape for p in preds] == [p.shape for p in head_preds], f"{name}: head and forward predictions differ in shape"
    assert preds and all(p.shape[0] == x.shape[0] for p in preds), f"{name}: predictions not batch-first"
    if not x.is_meta:
        assert all(torch.isfinite(p).all() for p in preds) and preds[0].std() > 0, f"{name}: degenerate output"
        assert all(torch.equal(a, b) for a, b in zip(preds, head_preds)), f"{name}: forward_head(forward_features(x)) != forward(x)"


def _check_split(name: str, model: nn.Module, x: Tensor) -> None:
    if _is_detector(name):
        return _check_detector_split(name, model, x)
    with torch.no_grad():
        out = model(x)
        features = model.forward_features(x)
        head = model.forward_head(features)
    assert features.dim() == 4, f"{name}: features of shape {tuple(features.shape)}"
    assert head.shape == out.shape, f"{name}: head {tuple(head.shape)}, forward {tuple(out.shape)}"
    assert out.shape[:2] == (x.shape[0], NUM_CLASSES), f"{name}: forward {tuple(out.shape)}"
    if not x.is_meta:
        # A constant output would make the equality below prove nothing.
        assert torch.isfinite(out).all() and out.std() > 0, f"{name}: degenerate output"
        assert torch.equal(head, out), f"{name}: forward_head(forward_features(x)) != forward(x)"


def _check_reset(name: str, model: nn.Module, x: Tensor) -> None:
    before = dict(model.named_parameters())
    sums = {k: _fingerprint(p) for k, p in before.items()}
    old = _layout(model)
    model.reset_classifier(NEW_CLASSES)

    new = _layout(_skeleton(name, NEW_CLASSES))
    assert _layout(model) == new, f"{name}: not laid out as if built with {NEW_CLASSES} classes"
    _check_classifier(name, model, NEW_CLASSES)
    after = dict(model.named_parameters())
    kept = [k for k in before if old[k] == new[k]]  # those that do not depend on the classes
    touched = [k for k in kept if after.get(k) is not before[k] or _fingerprint(after[k]) != sums[k]]
    assert not touched, f"{name}: reset_classifier changed {touched[:5]}"

    with torch.no_grad():
        out = model(x)
        if _is_detector(name):  # its layout was checked above; the reset network must still run
            preds = out.predictions()
            assert all(p.is_meta or torch.isfinite(p).all() for p in preds), f"{name}: after reset, non-finite predictions"
            return
        assert out.shape[:2] == (x.shape[0], NEW_CLASSES), f"{name}: after reset, {tuple(out.shape)}"
        if len(model.output_layers()) > 1:
            # Auxiliary heads answer in training mode, where BatchNorm needs a batch of two.
            shapes = [tuple(o.shape) for o in _outputs(model.train()(torch.cat([x, x])))]
            assert all(s[1] == NEW_CLASSES for s in shapes), f"{name}: outputs {shapes}"


@pytest.mark.parametrize("name", NAMES)
def test_interface_split_and_reset_classifier(name):
    model = _skeleton(name, NUM_CLASSES).eval()
    if sum(p.numel() for p in model.parameters()) > GIANT:
        model, device = model.to("meta"), "meta"
    else:
        _fill(model)
        device = "cpu"
    x = _input(name, 1, device)
    _check_classifier(name, model, NUM_CLASSES)
    _check_split(name, model, x)
    _check_reset(name, model, x)


def test_fcn_split_for_real():
    # FCN's head also needs the pool3/pool4 maps and the input size, which
    # forward_features keeps for the forward_head call that follows it.
    model = _skeleton("fcn8s", NUM_CLASSES).eval()
    _fill(model)  # nonzero scoring layers (the builder zeroes them), so the skips count
    x = _input("fcn8s", 1, "cpu")
    _check_split("fcn8s", model, x)
    with pytest.raises(ValueError, match="forward_features"):
        model.forward_head(torch.zeros(1, 4096, 1, 1))  # the pending maps were taken


@pytest.mark.parametrize("name", ["googlenet", "inception_v3"])
def test_reset_classifier_with_and_without_auxiliary_heads(name):
    # The registry builds these without their auxiliary heads (the counted network);
    # with them, reset_classifier must replace the auxiliary output layers too.
    plain = _skeleton(name, NUM_CLASSES)
    assert list(plain.output_layers()) == ["fc"]  # the heads that were not built are passed over
    model = _skeleton(name, NUM_CLASSES, aux_logits=True)
    assert len(model.output_layers()) > 1
    model.reset_classifier(NEW_CLASSES)
    assert _layout(model) == _layout(_skeleton(name, NEW_CLASSES, aux_logits=True))
    assert all(_out_features(layer) == NEW_CLASSES for layer in model.output_layers().values())


def test_reset_classifier_rejects_no_classes():
    model = cnnzoo.create("lenet5")
    with pytest.raises(ValueError, match="num_classes"):
        model.reset_classifier(0)


def test_fresh_output_layer():
    torch.manual_seed(0)
    linear = nn.Linear(4096, 1000, bias=False).double()
    new = fresh_output_layer(linear, 7)
    assert isinstance(new, nn.Linear) and (new.in_features, new.out_features) == (4096, 7)
    assert new.bias is None and new.weight.dtype == torch.float64
    assert abs(new.weight.std().item() - 0.01) < 0.001  # N(0, 0.01)

    conv = nn.Conv2d(64, 1000, 3, stride=2, padding=1, dilation=2, groups=4, padding_mode="reflect")
    new = fresh_output_layer(conv, 7)
    assert isinstance(new, nn.Conv2d) and (new.in_channels, new.out_channels) == (64, 7)
    assert (new.kernel_size, new.stride, new.padding, new.dilation) == ((3, 3), (2, 2), (1, 1), (2, 2))
    assert new.groups == 1  # seven classes need not divide into the old groups
    assert new.padding_mode == "reflect"
    assert torch.count_nonzero(new.bias) == 0

    with pytest.raises(TypeError, match="Linear or Conv2d"):
        fresh_output_layer(nn.BatchNorm2d(8), 7)
