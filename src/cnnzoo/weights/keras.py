"""Keras Applications ``.h5`` weight files (read with h5py, an optional extra).

The layout follows Keras's documented weight order (the file's ``layer_names``
and each layer's ``weight_names``): convolution ``kernel`` (H, W, in, out) and
``bias``; BatchNormalization ``gamma, beta, moving_mean, moving_variance``;
Dense ``kernel`` (in, out) and ``bias``; SeparableConv2D ``depthwise_kernel``
(H, W, in, 1) and ``pointwise_kernel``. Conversions, all exact:

* kernels HWIO → OIHW, Dense kernels transposed; VGG's first Dense layer reads
  a (H, W, C)-flattened map, so its columns are reordered to (C, H, W);
* a convolution's bias before a BatchNorm moves into the BN's running mean;
* the BN epsilon the layer used (1e-3 in the first ``keras_applications``
  ResNet50, 1.001e-5 in ``keras.applications.resnet``) moves into the running
  variance, so cnnzoo's 1e-5 computes the same function;
* ResNet50 and VGG expect BGR "caffe" input (x·255 − mean): the first convolution's
  input channels are flipped to RGB and the normalisation is written as
  mean/255, std 1/255.

Layer names are matched explicitly (both Keras naming schemes of ResNet50), so
Keras's v1 ResNet-50 (stride on the first 1×1, cnnzoo's default) is imported as v1.

Every model here is checked against Keras 3 itself (``tests/weights/fixtures/keras``;
the first release's ResNet50 layer names only against a hand conversion).
Unnamed ``conv2d``/``batch_normalization`` layers (the Inception models',
Xception's shortcuts) are taken in creation order. Xception's strided "same"
max pools pad even-sized maps on the bottom/right only, as TensorFlow does:
the import builds cnnzoo's xception with ``tf_padding=True``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cnnzoo.weights.catalog import INCEPTION_MEAN, INCEPTION_STD, SourceModel
from cnnzoo.weights.errors import WeightsError
from cnnzoo.weights.mapping import assign

__all__ = ["KERAS_REFUSED", "KERAS_SOURCES", "load_keras", "read_h5"]

_CAFFE_MEAN = tuple(v / 255 for v in (123.68, 116.779, 103.939))  # RGB order
_CAFFE_STD = (1 / 255,) * 3
TORCH_BN_EPS = 1e-5

KERAS_SOURCES = {
    "resnet50": SourceModel("keras", "ResNet50", "resnet50", mean=_CAFFE_MEAN, std=_CAFFE_STD, note="v1: stride on the 1×1"),
    "vgg16": SourceModel("keras", "VGG16", "vgg16", mean=_CAFFE_MEAN, std=_CAFFE_STD),
    "vgg19": SourceModel("keras", "VGG19", "vgg19", mean=_CAFFE_MEAN, std=_CAFFE_STD),
    # TF's "same" average pools leave the padding out of the count; input x / 127.5 − 1
    "inception_v3": SourceModel(
        "keras", "InceptionV3", "inception_v3", kwargs={"aux_logits": False, "pool_count_pad": False},
        size=299, mean=INCEPTION_MEAN, std=INCEPTION_STD, note="no BN γ; pools exclude padding",
    ),
    "inception_resnet_v2": SourceModel(
        "keras", "InceptionResNetV2", "inception_resnet_v2", kwargs={"layout": "released"},
        size=299, mean=INCEPTION_MEAN, std=INCEPTION_STD, note="no BN γ",
    ),
    "xception": SourceModel(
        "keras", "Xception", "xception", kwargs={"tf_padding": True},
        size=299, mean=INCEPTION_MEAN, std=INCEPTION_STD, note="TF \"same\" pooling; BN eps 1e-3",
    ),
}

KERAS_REFUSED: dict[str, str] = {}  # none at present; a refused model would be named here with the reason


def read_h5(path: str | Path) -> dict[str, list[np.ndarray]]:
    """``{layer name: [weights in Keras's order]}`` for every layer that has weights."""
    try:
        import h5py
    except ImportError:
        raise WeightsError("reading Keras .h5 files needs h5py: pip install 'cnnzoo[keras]'") from None
    try:
        with h5py.File(path, "r") as f:
            root = f.get("model_weights", f)
            layers = {}
            for raw in root.attrs["layer_names"]:
                name = raw.decode() if isinstance(raw, bytes) else str(raw)
                names = [w.decode() if isinstance(w, bytes) else str(w) for w in root[name].attrs["weight_names"]]
                if names:
                    layers[name] = [np.asarray(root[name][w]) for w in names]
            return layers
    except (OSError, KeyError) as e:
        raise WeightsError(f"{path}: not a Keras weight file (expected layer_names and weight_names; {e})") from None


def _bn(w: list[np.ndarray], conv_bias: np.ndarray | None, eps: float, target_eps: float = TORCH_BN_EPS) -> list[torch.Tensor]:
    if len(w) == 3:  # scale=False: no gamma
        w = [np.ones_like(w[0]), *w]
    gamma, beta, mean, var = (torch.from_numpy(np.array(a, dtype=np.float32)) for a in w)
    if conv_bias is not None:
        mean = mean - torch.from_numpy(np.asarray(conv_bias, dtype=np.float32))
    return [gamma, beta, mean, var + (eps - target_eps)]


def _kernel(k: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.transpose(k, (3, 2, 0, 1)), dtype=np.float32))


def _dense(k: np.ndarray, spatial: int | None = None) -> torch.Tensor:
    if spatial:  # rows flattened as (H, W, C); torch flattens (C, H, W)
        c = k.shape[0] // (spatial * spatial)
        k = k.reshape(spatial, spatial, c, -1).transpose(2, 0, 1, 3).reshape(c * spatial * spatial, -1)
    return torch.from_numpy(np.ascontiguousarray(k.T, dtype=np.float32))


def _resnet50_layers(layers: dict[str, list[np.ndarray]], path: object) -> tuple[list[tuple[str, str]], str, float]:
    """``[(conv, bn)]`` in cnnzoo's order, the classifier's name and the BN epsilon of the layout."""
    if "conv1_conv" in layers:  # keras.applications.resnet (TF 2)
        blocks = sorted({m.groups() for n in layers if (m := re.fullmatch(r"conv(\d)_block(\d+)_\d_conv", n))}, key=lambda g: (int(g[0]), int(g[1])))
        pairs = [("conv1_conv", "conv1_bn")]
        for s, b in blocks:
            p = f"conv{s}_block{b}"
            pairs += [(f"{p}_{i}_conv", f"{p}_{i}_bn") for i in (1, 2, 3, 0) if f"{p}_{i}_conv" in layers]
        return pairs, "predictions", 1.001e-5
    if "conv1" in layers and "bn_conv1" in layers:  # keras_applications resnet50 (first release)
        blocks = sorted({m.group(1) for n in layers if (m := re.fullmatch(r"res(\d[a-z])_branch2a", n))})
        pairs = [("conv1", "bn_conv1")]
        for b in blocks:
            pairs += [(f"res{b}_branch{x}", f"bn{b}_branch{x}") for x in ("2a", "2b", "2c", "1") if f"res{b}_branch{x}" in layers]
        return pairs, "fc1000", 1e-3
    raise WeightsError(f"{path}: no layer conv1_conv or conv1/bn_conv1; expected Keras ResNet50's layer names")


def _resnet50(layers: dict[str, list[np.ndarray]], path: object) -> list[tuple[str, torch.Tensor]]:
    pairs, head, eps = _resnet50_layers(layers, path)
    out = []
    for conv, bn in pairs:
        k, *bias = layers[conv]
        out.append((conv, _kernel(k)))
        out += [(bn, t) for t in _bn(layers[bn], bias[0] if bias else None, eps)]
    out[0] = (out[0][0], out[0][1].flip(1))  # BGR → RGB
    w, b = layers[head]
    return [*out, (head, _dense(w)), (head, torch.from_numpy(b.astype(np.float32)))]


def _vgg(layers: dict[str, list[np.ndarray]], path: object) -> list[tuple[str, torch.Tensor]]:
    convs = sorted((n for n in layers if re.fullmatch(r"block\d_conv\d", n)), key=lambda n: (n[5], int(n[-1])))
    if not convs or not all(n in layers for n in ("fc1", "fc2", "predictions")):
        raise WeightsError(f"{path}: expected Keras VGG's layers block1_conv1 … fc1, fc2, predictions")
    out = []
    for n in convs:
        k, b = layers[n]
        out += [(n, _kernel(k)), (n, torch.from_numpy(b.astype(np.float32)))]
    out[0] = (out[0][0], out[0][1].flip(1))  # BGR → RGB
    for n, spatial in (("fc1", 7), ("fc2", None), ("predictions", None)):
        w, b = layers[n]
        out += [(n, _dense(w, spatial)), (n, torch.from_numpy(b.astype(np.float32)))]
    return out


def _creation_order(name: str) -> int:
    # Keras numbers unnamed layers in creation order: conv2d, conv2d_1, … (Keras 2 files start at _1).
    return int(name.rsplit("_", 1)[1]) if name[-1].isdigit() else 0


def _unnamed(layers: dict[str, list[np.ndarray]], kind: str) -> list[str]:
    return sorted((n for n in layers if re.fullmatch(rf"{kind}(_\d+)?", n)), key=_creation_order)


def _inception_v3(layers: dict[str, list[np.ndarray]], path: object) -> list[tuple[str, torch.Tensor]]:
    """Keras's unnamed conv2d/batch_normalization layers, paired in creation order (the code's order)."""
    convs, bns = _unnamed(layers, "conv2d"), _unnamed(layers, "batch_normalization")
    if len(convs) != 94 or len(bns) != 94 or "predictions" not in layers:
        raise WeightsError(f"{path}: expected Keras InceptionV3's 94 conv2d and batch_normalization layers and predictions")
    out = []
    for conv, bn in zip(convs, bns):
        out.append((conv, _kernel(layers[conv][0])))
        out += [(bn, t) for t in _bn(layers[bn], None, 1e-3, target_eps=1e-3)]  # cnnzoo's inception_v3 uses 1e-3 too
    w, b = layers["predictions"]
    return [*out, ("predictions", _dense(w)), ("predictions", torch.from_numpy(b.astype(np.float32)))]


# Keras's inception_resnet_v2 in creation order: (unnamed conv-BN pairs, named 1×1 "up" conv or None).
_IRV2_PLAN = (
    [(5 + 7, None)]  # stem and mixed_5b
    + [(6, f"block35_{i}_conv") for i in range(1, 11)]
    + [(4, None)]  # mixed_6a
    + [(4, f"block17_{i}_conv") for i in range(1, 21)]
    + [(7, None)]  # mixed_7a
    + [(4, f"block8_{i}_conv") for i in range(1, 11)]
)


def _inception_resnet_v2(layers: dict[str, list[np.ndarray]], path: object) -> list[tuple[str, torch.Tensor]]:
    """Unnamed conv-BN pairs in creation order, each residual block closed by its named ``up`` conv."""
    convs, bns = iter(_unnamed(layers, "conv2d")), iter(_unnamed(layers, "batch_normalization"))
    names = ["conv_7b", "conv_7b_bn", "predictions", *(u for _, u in _IRV2_PLAN if u)]
    if len(_unnamed(layers, "conv2d")) != 203 or any(n not in layers for n in names):
        raise WeightsError(f"{path}: expected Keras InceptionResNetV2's 203 conv2d layers, block35_1_conv … conv_7b, predictions")
    out: list[tuple[str, torch.Tensor]] = []

    def conv_bn(conv: str, bn: str) -> None:
        out.append((conv, _kernel(layers[conv][0])))
        out.extend((bn, t) for t in _bn(layers[bn], None, 1e-3, target_eps=1e-3))  # 1e-3 in cnnzoo too

    for count, up in _IRV2_PLAN:
        for _ in range(count):
            conv_bn(next(convs), next(bns))
        if up:
            k, b = layers[up]
            out += [(up, _kernel(k)), (up, torch.from_numpy(b.astype(np.float32)))]
    conv_bn("conv_7b", "conv_7b_bn")
    w, b = layers["predictions"]
    return [*out, ("predictions", _dense(w)), ("predictions", torch.from_numpy(b.astype(np.float32)))]


def _xception(layers: dict[str, list[np.ndarray]], path: object) -> list[tuple[str, torch.Tensor]]:
    """Named stem and separable convs by block; the four unnamed shortcut convs in creation order."""
    shortcuts = zip(_unnamed(layers, "conv2d"), _unnamed(layers, "batch_normalization"))
    if len(_unnamed(layers, "conv2d")) != 4 or any(n not in layers for n in ("block1_conv1", "block14_sepconv2", "predictions")):
        raise WeightsError(f"{path}: expected Keras Xception's block1_conv1 … block14_sepconv2, 4 shortcut conv2d, predictions")
    out: list[tuple[str, torch.Tensor]] = []

    def bn(name: str) -> None:
        out.extend((name, t) for t in _bn(layers[name], None, 1e-3))  # Keras's default epsilon; cnnzoo's is 1e-5

    for name in ("block1_conv1", "block1_conv2"):
        out.append((name, _kernel(layers[name][0])))
        bn(f"{name}_bn")
    for block in range(2, 15):
        for i in (1, 2, 3):
            name = f"block{block}_sepconv{i}"
            if name in layers:
                depthwise, pointwise = layers[name]
                out += [(name, _kernel(depthwise).transpose(0, 1)), (name, _kernel(pointwise))]  # (C, 1, H, W)
                bn(f"{name}_bn")
        if block in (2, 3, 4, 13):  # downsampling blocks: 1×1/2 shortcut
            conv, norm = next(shortcuts)
            out.append((conv, _kernel(layers[conv][0])))
            bn(norm)
    w, b = layers["predictions"]
    return [*out, ("predictions", _dense(w)), ("predictions", torch.from_numpy(b.astype(np.float32)))]


_CONVERTERS = {
    "resnet50": _resnet50, "vgg16": _vgg, "vgg19": _vgg,
    "inception_v3": _inception_v3, "inception_resnet_v2": _inception_resnet_v2, "xception": _xception,
}  # fmt: skip


def _keras_model(path: Path, model: str | None) -> str:
    if model is None:  # Keras's own file names: resnet50_weights_tf_dim_ordering_tf_kernels.h5
        names = (*KERAS_SOURCES, *KERAS_REFUSED)
        model = next((m for m in names if path.name.lower().startswith(m)), None)
    if model in KERAS_REFUSED:
        raise WeightsError(f"{path}: Keras {model} is refused: {KERAS_REFUSED[model]}")
    if model not in KERAS_SOURCES:
        raise WeightsError(f"{path}: Keras model {model!r} is not supported; supported: {', '.join(KERAS_SOURCES)} (pass --model)")
    return model


def load_keras(path: str | Path, model: str | None = None, **kwargs: Any) -> tuple[nn.Module, SourceModel]:
    """The cnnzoo model holding the Keras weights in ``path`` (1000 classes; eval mode)."""
    from cnnzoo.registry import create

    path = Path(path)
    name = _keras_model(path, model)
    entry = KERAS_SOURCES[name]
    layers = read_h5(path)
    pairs = _CONVERTERS[name](layers, path)
    kwargs = {k: v for k, v in kwargs.items() if k != "num_classes"}
    if kwargs.get("stride_on_3x3"):
        raise WeightsError(f"{path}: Keras ResNet50 is v1 (stride on the 1×1); stride_on_3x3=True contradicts it")
    clash = next((k for k, v in entry.kwargs.items() if k in kwargs and kwargs[k] != v), None)
    if clash:
        raise WeightsError(f"{path}: Keras {entry.name} needs {clash}={entry.kwargs[clash]!r}")
    net = create(entry.model, **{**kwargs, **entry.kwargs}, num_classes=1000)
    assign(pairs, entry, net, str(path))
    return net.eval(), entry
