"""Keras Applications ``.h5`` files, written here with h5py in Keras's documented layout.

Layout (Keras ``save_weights``): the root lists ``layer_names``; each layer's
group lists ``weight_names`` in Keras's order: convolution ``kernel`` (H, W,
in, out) and ``bias``; BatchNormalization ``gamma, beta, moving_mean,
moving_variance``; Dense ``kernel`` (in, out) and ``bias``. The imported model's
tensors must equal a hand conversion of the same arrays.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch

import cnnzoo
from cnnzoo.weights import WeightsError

h5py = pytest.importorskip("h5py")

KERAS_EPS = 1.001e-5  # keras.applications.resnet's BatchNormalization epsilon


def _array(name: str, shape: tuple[int, ...]) -> np.ndarray:
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    if name.endswith("moving_variance:0"):
        return rng.uniform(0.5, 1.5, shape).astype(np.float32)
    return rng.standard_normal(shape, dtype=np.float32) / np.float32(np.sqrt(max(1, int(np.prod(shape[:-1])))))


def _write_h5(path, layers: dict[str, dict[str, tuple[int, ...]]]) -> dict[str, list[np.ndarray]]:
    """Write ``{layer: {weight: shape}}`` in Keras's layout; the arrays written, by layer."""
    written = {}
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [n.encode() for n in layers]
        f.attrs["backend"] = b"tensorflow"
        for layer, weights in layers.items():
            g = f.create_group(layer)
            names = [f"{layer}/{w}:0" for w in weights]
            g.attrs["weight_names"] = [n.encode() for n in names]
            written[layer] = []
            for n, shape in zip(names, weights.values()):
                written[layer].append(_array(n, shape))
                g.create_dataset(n, data=written[layer][-1])
    return written


def _conv(k: int, cin: int, cout: int) -> dict[str, tuple[int, ...]]:
    return {"kernel": (k, k, cin, cout), "bias": (cout,)}


def _bn(c: int) -> dict[str, tuple[int, ...]]:
    return {w: (c,) for w in ("gamma", "beta", "moving_mean", "moving_variance")}


def _names(scheme: str, s: int, b: int, i: int) -> tuple[str, str]:
    """Conv and BN layer names: keras.applications.resnet ("tf2") or the first keras_applications ("v1")."""
    if scheme == "tf2":
        return f"conv{s}_block{b}_{i}_conv", f"conv{s}_block{b}_{i}_bn"
    branch = ["1", "2a", "2b", "2c"][i]
    block = "abcdef"[b - 1]
    return f"res{s}{block}_branch{branch}", f"bn{s}{block}_branch{branch}"


def _resnet50_layers(scheme: str) -> tuple[dict, list[tuple[str, str]], str]:
    stem = ("conv1_conv", "conv1_bn") if scheme == "tf2" else ("conv1", "bn_conv1")
    layers, pairs = {stem[0]: _conv(7, 3, 64), stem[1]: _bn(64)}, [stem]
    cin = 64
    for s, (n, w) in enumerate(zip([3, 4, 6, 3], [64, 128, 256, 512]), start=2):
        for b in range(1, n + 1):
            spec = {0: (1, cin, 4 * w), 1: (1, cin if b == 1 else 4 * w, w), 2: (3, w, w), 3: (1, w, 4 * w)}
            for i in ([0] if b == 1 else []) + [1, 2, 3]:  # Keras creates the shortcut first
                conv, bn = _names(scheme, s, b, i)
                layers[conv], layers[bn] = _conv(*spec[i]), _bn(spec[i][2])
            pairs += [_names(scheme, s, b, i) for i in (1, 2, 3) + ((0,) if b == 1 else ())]
            cin = 4 * w
    head = "predictions" if scheme == "tf2" else "fc1000"
    layers[head] = {"kernel": (2048, 1000), "bias": (1000,)}
    return layers, pairs, head


def _expected_resnet50(w: dict[str, list[np.ndarray]], pairs, head: str, eps: float) -> list[torch.Tensor]:
    out = []
    for conv, bn in pairs:
        kernel, bias = w[conv]
        gamma, beta, mean, var = w[bn]
        k = torch.tensor(kernel).permute(3, 2, 0, 1)  # HWIO -> OIHW
        out += [k.flip(1) if conv == pairs[0][0] else k]  # BGR -> RGB input channels
        # bias folded into the mean; Keras's epsilon folded into the variance
        out += [torch.tensor(gamma), torch.tensor(beta), torch.tensor(mean - bias), torch.tensor(var) + (eps - 1e-5)]
    kernel, bias = w[head]
    return [*out, torch.tensor(kernel).T, torch.tensor(bias)]


def _weights(model: torch.nn.Module) -> list[torch.Tensor]:
    return [v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")]


@pytest.mark.parametrize(("scheme", "eps"), [("tf2", KERAS_EPS), ("v1", 1e-3)])
def test_keras_resnet50_imports_as_v1_with_exact_conversions(tmp_path, scheme, eps):
    layers, pairs, head = _resnet50_layers(scheme)
    path = tmp_path / "resnet50_weights_tf_dim_ordering_tf_kernels.h5"
    written = _write_h5(path, layers)
    model = cnnzoo.create("resnet50", weights=str(path))
    assert model.layer2[0].branch.conv1.stride == (2, 2)  # v1: stride on the first 1×1
    got, want = _weights(model), _expected_resnet50(written, pairs, head, eps)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-6, atol=1e-7)
    with pytest.raises(WeightsError, match="v1"):
        cnnzoo.create("resnet50", weights=str(path), stride_on_3x3=True)


def test_keras_bn_folding_computes_the_same_function():
    """BN(conv + b; μ, σ², ε=1.001e-5) equals BN(conv; μ − b, σ² + ε − 1e-5, ε=1e-5)."""
    x, b = torch.randn(2, 4, 3, 3), torch.randn(4)
    g, beta, mu, var = torch.randn(4), torch.randn(4), torch.randn(4), torch.rand(4) + 0.5
    keras = torch.nn.functional.batch_norm(x + b[:, None, None], mu, var, g, beta, eps=KERAS_EPS)
    ours = torch.nn.functional.batch_norm(x, mu - b, var + (KERAS_EPS - 1e-5), g, beta, eps=1e-5)
    torch.testing.assert_close(ours, keras, rtol=1e-6, atol=1e-6)


@pytest.mark.slow
def test_keras_vgg16_imports_with_fc1_columns_in_torch_order(tmp_path):
    layers, cin = {}, 3
    for blk, (n, c) in enumerate(zip([2, 2, 3, 3, 3], [64, 128, 256, 512, 512]), start=1):
        for i in range(1, n + 1):
            layers[f"block{blk}_conv{i}"], cin = _conv(3, cin, c), c
    layers |= {"fc1": {"kernel": (25088, 4096), "bias": (4096,)}, "fc2": {"kernel": (4096, 4096), "bias": (4096,)},
               "predictions": {"kernel": (4096, 1000), "bias": (1000,)}}  # fmt: skip
    path = tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
    written = _write_h5(path, layers)
    model = cnnzoo.create("vgg16", weights=str(path))
    sd = model.state_dict()
    assert torch.equal(sd["features.conv1_1.weight"], torch.tensor(written["block1_conv1"][0]).permute(3, 2, 0, 1).flip(1))
    assert torch.equal(sd["features.conv5_3.bias"], torch.tensor(written["block5_conv3"][1]))
    # torch's flatten index j = c*49 + h*7 + w reads Keras's row (h*7 + w)*512 + c
    c, h, w = np.meshgrid(np.arange(512), np.arange(7), np.arange(7), indexing="ij")
    rows = ((h * 7 + w) * 512 + c).reshape(-1)
    assert torch.equal(sd["classifier.fc6.weight"], torch.from_numpy(written["fc1"][0][rows].T))  # a copy: exact
    assert torch.equal(sd["classifier.fc8.weight"], torch.from_numpy(written["predictions"][0].T))


def test_keras_files_of_other_models_are_refused(tmp_path):
    path = tmp_path / "mobilenet_1_0_224_tf.h5"
    _write_h5(path, {"conv1": _conv(3, 3, 32)})
    with pytest.raises(WeightsError, match="not supported"):
        cnnzoo.create("mobilenet_v1", weights=str(path))
