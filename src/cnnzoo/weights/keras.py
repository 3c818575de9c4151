"""Keras Applications ``.h5`` weight files (read with h5py, an optional extra).

The layout follows Keras's documented weight order (the file's ``layer_names``
and each layer's ``weight_names``): convolution ``kernel`` (H, W, in, out) and
``bias``; BatchNormalization ``gamma, beta, moving_mean, moving_variance``;
Dense ``kernel`` (in, out) and ``bias``. It was derived from that documentation,
not from running Keras. Conversions, all exact:

* kernels HWIO → OIHW, Dense kernels transposed; VGG's first Dense layer reads
  a (H, W, C)-flattened map, so its columns are reordered to (C, H, W);
* a convolution's bias before a BatchNorm moves into the BN's running mean;
* the BN epsilon the layer used (1e-3 in the first ``keras_applications``
  ResNet50, 1.001e-5 in ``keras.applications.resnet``) moves into the running
  variance, so cnnzoo's 1e-5 computes the same function;
* these models expect BGR "caffe" input (x·255 − mean): the first convolution's
  input channels are flipped to RGB and the normalisation is written as
  mean/255, std 1/255.

Layer names are matched explicitly (both Keras naming schemes of ResNet50), so
Keras's v1 ResNet-50 (stride on the first 1×1, cnnzoo's default) is imported as v1.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cnnzoo.weights.catalog import SourceModel
from cnnzoo.weights.errors import WeightsError
from cnnzoo.weights.mapping import assign

__all__ = ["KERAS_SOURCES", "load_keras", "read_h5"]

_CAFFE_MEAN = tuple(v / 255 for v in (123.68, 116.779, 103.939))  # RGB order
_CAFFE_STD = (1 / 255,) * 3
TORCH_BN_EPS = 1e-5

KERAS_SOURCES = {
    "resnet50": SourceModel("keras", "ResNet50", "resnet50", mean=_CAFFE_MEAN, std=_CAFFE_STD, note="v1: stride on the 1×1"),
    "vgg16": SourceModel("keras", "VGG16", "vgg16", mean=_CAFFE_MEAN, std=_CAFFE_STD),
    "vgg19": SourceModel("keras", "VGG19", "vgg19", mean=_CAFFE_MEAN, std=_CAFFE_STD),
}


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


def _bn(w: list[np.ndarray], conv_bias: np.ndarray | None, eps: float) -> list[torch.Tensor]:
    if len(w) == 3:  # scale=False: no gamma
        w = [np.ones_like(w[0]), *w]
    gamma, beta, mean, var = (torch.from_numpy(np.array(a, dtype=np.float32)) for a in w)
    if conv_bias is not None:
        mean = mean - torch.from_numpy(np.asarray(conv_bias, dtype=np.float32))
    return [gamma, beta, mean, var + (eps - TORCH_BN_EPS)]


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


def _keras_model(path: Path, model: str | None) -> str:
    if model is None:  # Keras's own file names: resnet50_weights_tf_dim_ordering_tf_kernels.h5
        model = next((m for m in KERAS_SOURCES if path.name.lower().startswith(m)), None)
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
    pairs = _resnet50(layers, path) if name == "resnet50" else _vgg(layers, path)
    kwargs = {k: v for k, v in kwargs.items() if k != "num_classes"}
    if kwargs.get("stride_on_3x3"):
        raise WeightsError(f"{path}: Keras ResNet50 is v1 (stride on the 1×1); stride_on_3x3=True contradicts it")
    net = create(entry.model, **kwargs, num_classes=1000)
    assign(pairs, entry, net, str(path))
    return net.eval(), entry
