"""TensorFlow's "same" padding (``layers/same_padding.py``), which Keras's and timm's TF weights need.

Reference: TensorFlow's documented rule, ``out = ceil(n / s)`` with
``pad = max((out − 1)·s + k − n, 0)`` split ``pad // 2`` before and the rest
after, worked out by hand below.
"""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

import cnnzoo
from cnnzoo.layers.same_padding import Conv2dSame, MaxPool2dSame, same_padding
from cnnzoo.weights import WeightsError, load_weights
from cnnzoo.weights.mapping import load_manifest
from cnnzoo.weights.synthetic import synthetic_state_dict


@pytest.mark.parametrize(
    ("size", "k", "s", "expected"),
    [(74, 3, 2, (0, 1)), (37, 3, 2, (1, 1)), (224, 3, 2, (0, 1)), (112, 5, 2, (1, 2)), (7, 3, 1, (1, 1)), (10, 1, 2, (0, 0))],
)
def test_same_padding_is_tensorflows(size, k, s, expected):
    assert same_padding(size, k, s) == expected


def test_max_pool_windows_start_at_the_first_pixel_on_even_maps():
    x = torch.arange(4.0).view(1, 1, 1, 4).expand(1, 1, 4, 4).contiguous()  # columns 0 1 2 3
    # TF: windows {0,1,2} and {2,3,pad} → 2, 3; PyTorch's padding=1: {pad,0,1}, {1,2,3} → 1, 3.
    assert MaxPool2dSame(3, 2)(x)[0, 0, 0].tolist() == [2.0, 3.0]
    assert F.max_pool2d(x, 3, 2, 1)[0, 0, 0].tolist() == [1.0, 3.0]


def test_conv_pads_bottom_right_and_keeps_its_tensors():
    conv = Conv2dSame(2, 3, 3, stride=2, bias=True)
    x = torch.randn(1, 2, 6, 7)  # even height: (0, 1); odd width: (1, 1)
    expected = F.conv2d(F.pad(x, (1, 1, 0, 1)), conv.weight, conv.bias, stride=2)
    torch.testing.assert_close(conv(x), expected)
    assert set(conv.state_dict()) == {"weight", "bias"}


@pytest.mark.parametrize("name", ["efficientnet_b0", "xception"])
def test_tf_padding_changes_even_sizes_only_and_keeps_the_state_dict(name):
    ours = cnnzoo.create(name, num_classes=10).eval()
    tf = cnnzoo.create(name, num_classes=10, tf_padding=True).eval()
    assert list(tf.state_dict()) == list(ours.state_dict())
    # Weights that keep the signal at unit scale (a fresh model's logits are ~1e-13).
    state = synthetic_state_dict((k, v.shape, str(v.dtype)[6:]) for k, v in ours.state_dict().items())
    ours.load_state_dict(state)
    tf.load_state_dict(state)
    # Odd maps before every strided layer: TF pads (1, 1) too (EfficientNet 65 → 33 → 17 → 9 → 5;
    # Xception's pools at 71: 33 → 17 → 9 → 5). Even maps (64; Xception's block 4 at 80: 10×10) differ.
    odd, even = (65, 64) if name == "efficientnet_b0" else (71, 80)
    with torch.no_grad():
        x = torch.randn(1, 3, odd, odd)
        torch.testing.assert_close(tf(x), ours(x))
        x = torch.randn(1, 3, even, even)
        y = ours(x)
        assert (tf(x) - y).abs().max() > 1e-3 * y.abs().max()  # float noise is ~1e-7



def test_tf_efficientnet_weights_refuse_pytorch_padding(tmp_path):
    # timm's efficientnet_b0 and tf_efficientnet_b0 share every tensor name and shape: only the name decides.
    path = tmp_path / "model.safetensors"
    save_file(synthetic_state_dict(load_manifest("timm-tf_efficientnet_b0")), str(path))
    model, entry = load_weights(path, "tf_efficientnet_b0", "timm")
    assert entry.name == "tf_efficientnet_b0" and entry.kwargs == {"tf_padding": True}
    assert type(model.stem.conv) is Conv2dSame and model.stem.bn.eps == 1e-3
    with pytest.raises(WeightsError, match="tf_padding=True"):
        load_weights(path, "tf_efficientnet_b0", "timm", tf_padding=False)


def test_timm_folder_config_sets_the_input_normalisation(tmp_path):
    # timm's AdvProp weights (tf_efficientnet_b0.ap_in1k) were trained on x / 127.5 - 1, as its config says.
    folder = tmp_path / "models--timm--tf_efficientnet_b0.ap_in1k"
    folder.mkdir()
    save_file(synthetic_state_dict(load_manifest("timm-tf_efficientnet_b0")), str(folder / "model.safetensors"))
    cfg = {"tag": "ap_in1k", "input_size": [3, 224, 224], "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}
    (folder / "config.json").write_text(json.dumps({"architecture": "tf_efficientnet_b0", "pretrained_cfg": cfg}))
    _, entry = load_weights(folder)
    assert (entry.name, entry.mean, entry.std, entry.size) == ("tf_efficientnet_b0", (0.5,) * 3, (0.5,) * 3, 224)
