"""Keras Applications models (InceptionV3, InceptionResNetV2) proven against Keras itself.

Each fixture in ``fixtures/keras/`` was recorded by running Keras 3.15 (torch
backend, whose "same" pooling reproduces TensorFlow's) on
``keras.applications.<Model>(weights=None, classifier_activation=None)``: the
layers with weights in ``model.layers`` order, their weight names and shapes,
and the logits for ``fixed_input`` (NCHW, fed to Keras as NHWC) with every
weight filled by ``cnnzoo.weights.synthetic`` from ``"<layer>.<weight>"``. The
test writes the same weights into an ``.h5`` file in Keras's layout, imports it
and requires cnnzoo's logits to agree (1e-5 relative).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
import torch

from cnnzoo.weights import WeightsError, load_weights
from cnnzoo.weights.synthetic import fill_tensor, fixed_input

h5py = pytest.importorskip("h5py")

FIXTURES = Path(__file__).parent / "fixtures" / "keras"


def _keras2_name(name: str) -> str:
    """Keras 2's numbering of unnamed layers (conv2d_1, conv2d_2, …) as in the released files."""
    m = re.fullmatch(r"(conv2d|batch_normalization)(?:_(\d+))?", name)
    return f"{m.group(1)}_{int(m.group(2) or 0) + 1}" if m else name


def _write_h5(path: Path, layers: list, rename=lambda n: n, shuffle: bool = False) -> None:
    order = list(layers)
    if shuffle:  # the import must not depend on the file's layer order
        random.Random(0).shuffle(order)
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [rename(n).encode() for n, _ in order]
        f.attrs["backend"] = b"tensorflow"
        for layer, weights in order:
            g = f.create_group(rename(layer))
            names = [f"{rename(layer)}/{w}:0" for w, _ in weights]
            g.attrs["weight_names"] = [n.encode() for n in names]
            for n, (w, shape) in zip(names, weights):
                g.create_dataset(n, data=fill_tensor(f"{layer}.{w}", shape).numpy())


CASES = {"InceptionV3": "inception_v3", "InceptionResNetV2": "inception_resnet_v2"}


@pytest.mark.parametrize("scheme", ["keras3", "keras2"])
@pytest.mark.parametrize("keras_name", sorted(CASES))
def test_keras_model_computes_keras_logits(keras_name, scheme, tmp_path):
    fx = json.loads((FIXTURES / f"keras-{keras_name}.json").read_text())
    # Keras's own file name says which model it is.
    path = tmp_path / f"{CASES[keras_name]}_weights_tf_dim_ordering_tf_kernels.h5"
    _write_h5(path, fx["layers"], _keras2_name if scheme == "keras2" else (lambda n: n), shuffle=scheme == "keras2")
    model, entry = load_weights(path)
    assert entry.source == "keras" and entry.model == CASES[keras_name]
    with torch.no_grad():
        y = model(fixed_input(fx["input"]))[0].double()
    ref = torch.tensor(fx["logits"], dtype=torch.float64)
    torch.testing.assert_close(y[:20], ref, rtol=1e-5, atol=1e-6 * fx["abs_sum"] / y.numel())
    assert abs(float(y.sum()) - fx["sum"]) <= 1e-5 * fx["abs_sum"]


def test_keras_inception_v3_refuses_counting_the_padding(tmp_path):
    # Counting the padding (PyTorch's default) would compute other logits, so asking for it is an error.
    fx = json.loads((FIXTURES / "keras-InceptionV3.json").read_text())
    path = tmp_path / "inception_v3.h5"
    _write_h5(path, fx["layers"])
    with pytest.raises(WeightsError, match="pool_count_pad=False"):
        load_weights(path, "inception_v3", "keras", pool_count_pad=True)


def test_keras_xception_is_refused(tmp_path):
    path = tmp_path / "xception_weights_tf_dim_ordering_tf_kernels.h5"
    path.write_bytes(b"")
    with pytest.raises(WeightsError, match="refused.*same"):
        load_weights(path)
