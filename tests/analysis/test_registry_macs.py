"""Conv + linear MACs of every registered model whose paper prints them, at the paper's input."""

from __future__ import annotations

import pytest

import cnnzoo
from cnnzoo.analysis import analyze
from cnnzoo.registry import get_model_info

WITH_MACS = [n for n in cnnzoo.list_models() if get_model_info(n).macs is not None]


def test_some_models_carry_macs():
    assert WITH_MACS


@pytest.mark.parametrize("name", WITH_MACS)
def test_macs_match_paper(name):
    info = get_model_info(name)
    r = analyze(name, info.input_size)  # built on meta as create(name) builds it
    ref = info.macs
    assert not r.unknown_ops, f"{name}: ops without a counting rule: {r.unknown_ops}"
    assert r.fallback is None
    assert ref.matches(r.macs), (
        f"{name}: {r.macs:,} MACs at {info.input_size}, paper says {ref.text} (±{ref.tol:,.0f})"
    )
