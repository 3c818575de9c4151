"""Record the Keras fixtures in ``fixtures/keras/`` (run by hand, never by the tests).

Needs an environment with Keras 3 and h5py (not cnnzoo's: neither is a
dependency). Keras runs on its torch backend, whose "same" padding and pooling
reproduce TensorFlow's, including the bottom/right-only padding at stride 2::

    KERAS_BACKEND=torch python tests/weights/record_keras.py ResNet50 VGG16

For each model, ``keras.applications.<Model>(weights=None,
classifier_activation=None)`` gets every weight filled by
``cnnzoo.weights.synthetic.fill_keras`` from ``"<layer>.<weight>"``; the fixture keeps
the layers with weights (``model.layers`` order), their weight names and
shapes, and the first 20 logits and the sums for ``fixed_input`` (NCHW, given
to Keras as NHWC). Models trained on BGR "caffe" input (``channels: "bgr"``)
get the input's channels reversed, so the imported cnnzoo model, which takes
RGB, must compute the same logits from ``fixed_input`` itself.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import torch  # noqa: E402

HERE = Path(__file__).parent
_spec = importlib.util.spec_from_file_location("synthetic", HERE.parents[1] / "src/cnnzoo/weights/synthetic.py")
S = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(S)  # torch only: cnnzoo itself need not import here

# Input side, and whether Keras expects BGR. VGG's flatten needs a 7×7 map (224);
# the others take any size, small enough to be quick and, for Xception, with
# an even map before a stride-2 "same" pool (80: block4 pools a 10×10 map).
MODELS = {
    "ResNet50": (64, "bgr"),
    "VGG16": (224, "bgr"),
    "VGG19": (224, "bgr"),
    "InceptionV3": (80, "rgb"),
    "InceptionResNetV2": (80, "rgb"),
    "Xception": (80, "rgb"),
}


def _logits(model: keras.Model, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.as_tensor(model(x.permute(0, 2, 3, 1).numpy(), training=False)).detach()[0].double()


def record(name: str, out: Path) -> None:
    size, channels = MODELS[name]
    keras.backend.clear_session()  # unnamed layers are numbered from conv2d, as in a fresh process
    model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3), classifier_activation=None)
    layers = []
    for layer in model.layers:
        if not layer.weights:
            continue
        ws = [[w.name.split("/")[-1].split(":")[0], list(w.shape)] for w in layer.weights]
        layer.set_weights([S.fill_keras(f"{layer.name}.{w}", shape).numpy() for w, shape in ws])
        layers.append([layer.name, ws])
    x = S.fixed_input((1, 3, size, size))
    y = _logits(model, x.flip(1) if channels == "bgr" else x)
    other = _logits(model, x if channels == "bgr" else x.flip(1))  # how much the channel order matters
    fixture = {
        "source": "keras", "name": name, "keras": keras.__version__, "input": [1, 3, size, size], "channels": channels,
        "logits": y[:20].tolist(), "sum": float(y.sum()), "abs_sum": float(y.abs().sum()), "layers": layers,
    }  # fmt: skip
    (out / f"keras-{name}.json").write_text(json.dumps(fixture, separators=(",", ":")))
    eps = sorted({layer.epsilon for layer in model.layers if hasattr(layer, "epsilon")})
    change = float((y - other).abs().max() / y.abs().max())
    print(f"{name}: {len(layers)} layers, BN eps {eps}, max |logit| {float(y.abs().max()):.3g}, other channel order changes logits by {change:.2e} (relative)")


if __name__ == "__main__":
    for name in sys.argv[1:] or MODELS:
        record(name, HERE / "fixtures" / "keras")
