"""Keras Applications models proven against Keras itself.

Each fixture in ``fixtures/keras/`` was recorded by ``record_keras.py``:
Keras 3.15 (torch backend, whose "same" padding and pooling reproduce
TensorFlow's) ran ``keras.applications.<Model>(weights=None,
classifier_activation=None)`` with every weight filled by
``cnnzoo.weights.synthetic.fill_keras`` from ``"<layer>.<weight>"``, on
``fixed_input`` (channels reversed for the BGR "caffe" models). The test writes
the same weights into an ``.h5`` file in Keras's layout, imports it and
requires cnnzoo's logits on ``fixed_input`` to agree (1e-5 relative).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
import torch

from cnnzoo.weights import WeightsError, load_weights
from cnnzoo.weights.synthetic import fill_keras, fixed_input

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
                g.create_dataset(n, data=fill_keras(f"{layer}.{w}", shape).numpy())


CASES = {
    "InceptionV3": "inception_v3", "InceptionResNetV2": "inception_resnet_v2", "ResNet50": "resnet50",
    "VGG16": "vgg16", "VGG19": "vgg19", "Xception": "xception",
}  # fmt: skip
SLOW = {"VGG16", "VGG19"}  # 138M and 144M weights, at 224×224
# Only these have unnamed layers, which Keras 2's released files number from 1.
SCHEMES = [(k, "keras3") for k in CASES] + [(k, "keras2") for k in ("InceptionV3", "InceptionResNetV2", "Xception")]


@pytest.mark.parametrize(
    ("keras_name", "scheme"), [pytest.param(k, s, marks=pytest.mark.slow) if k in SLOW else (k, s) for k, s in sorted(SCHEMES)]
)
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
    # Keras's float32 kernels round differently from PyTorch's (cnnzoo in float64 is as far from
    # Keras as in float32, about 1e-6 of the logits' scale): hence 1e-5 of the mean |logit|.
    torch.testing.assert_close(y[:20], ref, rtol=1e-5, atol=1e-5 * fx["abs_sum"] / y.numel())
    assert abs(float(y.sum()) - fx["sum"]) <= 1e-5 * fx["abs_sum"]


def test_keras_inception_v3_refuses_counting_the_padding(tmp_path):
    # Counting the padding (PyTorch's default) would compute other logits, so asking for it is an error.
    fx = json.loads((FIXTURES / "keras-InceptionV3.json").read_text())
    path = tmp_path / "inception_v3.h5"
    _write_h5(path, fx["layers"])
    with pytest.raises(WeightsError, match="pool_count_pad=False"):
        load_weights(path, "inception_v3", "keras", pool_count_pad=True)


def test_keras_xception_needs_tensorflow_padding(tmp_path):
    # Symmetric pooling moves block 4's windows by a pixel (a 10×10 map at 80×80): other logits.
    fx = json.loads((FIXTURES / "keras-Xception.json").read_text())
    path = tmp_path / "xception.h5"
    _write_h5(path, fx["layers"])
    with pytest.raises(WeightsError, match="tf_padding=True"):
        load_weights(path, "xception", "keras", tf_padding=False)
