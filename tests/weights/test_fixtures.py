"""Every supported source model, proven: its own logits, recomputed by the imported cnnzoo model.

Each fixture holds the first 20 logits (and the sum of all 1000) that the
source library's model (torchvision 0.28 / timm) computed on ``fixed_input``
with every tensor filled by ``cnnzoo.weights.synthetic`` from its name. The
test rebuilds the same tensors from the shipped manifest, imports them and
requires cnnzoo's logits to agree (1e-5 relative).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from cnnzoo.weights import SOURCES, load_weights
from cnnzoo.weights.mapping import load_manifest
from cnnzoo.weights.synthetic import fixed_input, synthetic_state_dict

FIXTURES = Path(__file__).parent / "fixtures"
CASES = sorted(p.stem for p in FIXTURES.glob("*.json"))


def _size(key: str) -> int:
    return sum(math.prod(shape) for _, shape, _ in load_manifest(key))


BIG = {k for k in CASES if _size(k) > 30_000_000}  # VGGs, the largest ResNets, EfficientNet-B6/B7...


def _fixture(key: str) -> dict:
    return json.loads((FIXTURES / f"{key}.json").read_text())


def test_every_supported_source_has_a_fixture():
    assert set(CASES) == set(SOURCES)


@pytest.mark.parametrize("key", [pytest.param(k, marks=pytest.mark.slow) if k in BIG else k for k in CASES])
def test_imported_model_computes_the_source_logits(key, tmp_path):
    fx = _fixture(key)
    tensors = synthetic_state_dict(load_manifest(key))
    # A safetensors file keeps no creation order: the import must restore it from the manifest.
    from safetensors.torch import save_file

    path = tmp_path / "weights.safetensors"
    save_file({k: v.contiguous() for k, v in reversed(tensors.items())}, str(path))
    del tensors
    model, entry = load_weights(path, fx["name"], fx["source"])
    assert entry.key == key
    with torch.no_grad():
        y = model(fixed_input(fx["input"]))[0].double()
    ref = torch.tensor(fx["logits"], dtype=torch.float64)
    torch.testing.assert_close(y[:20], ref, rtol=1e-5, atol=1e-6 * fx["abs_sum"] / y.numel())
    assert abs(float(y.sum()) - fx["sum"]) <= 1e-5 * fx["abs_sum"]
