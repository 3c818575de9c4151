"""Choosing the source entry: from file names, configs and tensor names; never from shapes."""

from __future__ import annotations

import json

import pytest
import torch

import cnnzoo
from cnnzoo.weights import WeightsError, load_weights
from cnnzoo.weights.mapping import load_manifest
from cnnzoo.weights.readers import torchvision_arch
from cnnzoo.weights.synthetic import synthetic_state_dict


def _save(tmp_path, key: str, filename: str) -> str:
    path = tmp_path / filename
    torch.save(synthetic_state_dict(load_manifest(key)), path)
    return str(path)


@pytest.mark.parametrize(
    ("filename", "arch"),
    [
        ("resnet50-0676ba61.pth", "resnet50"),
        ("resnet50-11ad3fa6.pth", "resnet50"),
        ("efficientnet_b0_rwightman-7f5810bc.pth", "efficientnet_b0"),
        ("efficientnet_b7_lukemelas-c5b4e57e.pth", "efficientnet_b7"),
        ("shufflenetv2_x1-5666bf0f80.pth", "shufflenet_v2_x1_0"),
        ("inception_v3_google-0cc3c7bd.pth", "inception_v3"),
        ("alexnet-owt-7be5be79.pth", "alexnet"),
        ("my_resnet.pth", None),
    ],
)
def test_torchvision_file_names_name_their_architecture(filename, arch):
    assert torchvision_arch(filename) == arch


def test_torchvision_resnet50_is_v15_and_v1_cannot_be_forced(tmp_path):
    path = _save(tmp_path, "torchvision-resnet50", "resnet50-0676ba61.pth")
    model = cnnzoo.create("resnet50", weights=path)
    unit = model.layer2[0].branch
    assert unit.conv2.stride == (2, 2) and unit.conv1.stride == (1, 1)  # v1.5: stride on the 3×3
    with pytest.raises(WeightsError, match="stride_on_3x3=True"):
        cnnzoo.create("resnet50", weights=path, stride_on_3x3=False)


def test_a_file_without_a_torchvision_name_needs_the_source(tmp_path):
    path = _save(tmp_path, "torchvision-resnet18", "mine.pth")
    with pytest.raises(WeightsError, match="--source"):
        load_weights(path, "resnet18")
    model, entry = load_weights(path, "resnet18", "torchvision")
    assert entry.name == "resnet18" and not model.training


def test_tensor_names_tell_vgg16_from_vgg16_bn(tmp_path):
    path = _save(tmp_path, "torchvision-vgg11_bn", "mine.pth")
    _, entry = load_weights(path, "vgg11", "torchvision")
    assert entry.name == "vgg11_bn" and entry.kwargs["batch_norm"]


@pytest.mark.parametrize(("filename", "why"), [("googlenet-1378be20.pth", "5×5"), ("alexnet-owt-7be5be79.pth", "64/192/384/256/256")])
def test_sources_that_are_not_the_paper_are_refused_by_name(tmp_path, filename, why):
    path = tmp_path / filename
    torch.save({"w": torch.zeros(1)}, path)
    with pytest.raises(WeightsError, match=why):
        load_weights(path)
    with pytest.raises(WeightsError, match="refused"):
        load_weights(tmp_path / filename, "googlenet" if "google" in filename else "alexnet", "torchvision")


def test_timm_folder_reads_the_architecture_from_its_config(tmp_path):
    from safetensors.torch import save_file

    folder = tmp_path / "models--timm--seresnet50.a1_in1k"
    folder.mkdir()
    save_file(synthetic_state_dict(load_manifest("timm-seresnet50")), str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"architecture": "seresnet50", "num_classes": 1000}))
    model, entry = load_weights(folder)
    assert entry.key == "timm-seresnet50" and entry.kwargs == {"stride_on_3x3": True}
    with pytest.raises(WeightsError, match="imports into cnnzoo se_resnet50, not resnet50"):
        load_weights(folder, "resnet50")


def test_wrong_or_missing_tensors_are_named(tmp_path):
    sd = synthetic_state_dict(load_manifest("torchvision-resnet18"))
    sd["fc.weight"] = torch.zeros(10, 512)
    torch.save(sd, tmp_path / "a.pth")
    with pytest.raises(WeightsError, match=r"fc.weight has shape \(10, 512\)"):
        load_weights(tmp_path / "a.pth", "resnet18", "torchvision")
    del sd["fc.weight"]
    torch.save(sd, tmp_path / "b.pth")
    with pytest.raises(WeightsError, match="lacks fc.weight"):
        load_weights(tmp_path / "b.pth", "resnet18", "torchvision")


@pytest.mark.parametrize("content", [b"not a pickle", b""])
def test_unreadable_files_are_one_line_errors(tmp_path, content):
    for name in ("x.pth", "x.safetensors"):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(WeightsError, match="x\\.") as e:
            load_weights(tmp_path / name, "resnet18", "torchvision")
        assert "\n" not in str(e.value)
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(WeightsError, match="unknown weight format"):
        load_weights(tmp_path / "x.txt", "resnet18")


def test_num_classes_replaces_the_head_after_loading(tmp_path):
    path = _save(tmp_path, "torchvision-resnet18", "resnet18-f37072fd.pth")
    ref = cnnzoo.create("resnet18", weights=path)
    model = cnnzoo.create("resnet18", weights=path, num_classes=2)
    assert model.fc.out_features == 2
    torch.testing.assert_close(model.layer4[1].branch.conv2.weight, ref.layer4[1].branch.conv2.weight)


def test_create_without_weights_is_the_registry_create():
    model = cnnzoo.create("lenet5", num_classes=10)
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 10)


def test_a_non_keras_file_given_as_keras_is_a_one_line_error(tmp_path):
    pytest.importorskip("h5py")
    path = _save(tmp_path, "torchvision-resnet18", "mine.pth")
    with pytest.raises(WeightsError, match="not a Keras weight file"):
        load_weights(path, "resnet50", "keras")
