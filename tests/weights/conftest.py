"""Shared by the weight tests: each large synthetic tensor is drawn once per process.

``cnnzoo.weights.synthetic.fill_tensor`` depends on nothing but a tensor's
name, shape and dtype, and the VGG-shaped models share their largest tensors
by name and shape: torchvision's ``classifier.0.weight`` (4096 × 25088) in all
eight VGGs, Keras's ``fc1.kernel`` in VGG16 and VGG19. Drawing one takes most
of a VGG test's time (about 7 s of a core), so the draw is kept and reused.
Nothing downstream writes into a filled tensor: the tests save them to files
or copy them into a model.
"""

from __future__ import annotations

import functools
import math

import pytest

from cnnzoo.weights import synthetic

LARGE = 4_000_000  # elements: the VGG classifiers' first two layers, not the many small tensors


@pytest.fixture(autouse=True, scope="session")
def _draw_large_tensors_once():
    fill = synthetic.fill_tensor
    kept = functools.lru_cache(maxsize=8)(fill)

    def reuse(name: str, shape, dtype: str = "float32"):
        shape = tuple(int(s) for s in shape)
        return kept(name, shape, dtype) if math.prod(shape) > LARGE else fill(name, shape, dtype)

    synthetic.fill_tensor = reuse
    yield
    synthetic.fill_tensor = fill
