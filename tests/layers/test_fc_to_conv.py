"""FC → convolution conversion for dense evaluation (VGG §3.2; Long et al. 2015, §3.1)."""

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.layers.fc_to_conv import FullyConvolutional, convolutionalize, linear_to_conv


def test_linear_to_conv_is_the_same_function():
    torch.manual_seed(0)
    fc = nn.Linear(6 * 3 * 3, 5)
    x = torch.randn(4, 6, 3, 3)
    conv = linear_to_conv(fc, 6, 3)
    assert torch.allclose(conv(x).flatten(1), fc(x.flatten(1)), atol=1e-6)
    with pytest.raises(ValueError, match="cannot read"):
        linear_to_conv(fc, 6, 4)


@pytest.fixture(scope="module")
def alexnet():
    torch.manual_seed(0)
    return cnnzoo.create("alexnet", num_classes=10).eval()


def test_alexnet_same_scores_at_training_size_and_a_score_map_beyond(alexnet):
    model = alexnet
    dense = convolutionalize(model)
    assert isinstance(dense, FullyConvolutional) and not dense.training
    head = [m for m in dense.head if isinstance(m, nn.Conv2d)]
    assert [m.kernel_size for m in head] == [(6, 6), (1, 1), (1, 1)]  # fc6 → 6×6, fc7/fc8 → 1×1
    x = torch.randn(2, 3, 227, 227)
    with torch.no_grad():
        out = dense(x)
        assert out.shape == (2, 10, 1, 1)
        assert torch.allclose(out.flatten(1), model(x), rtol=1e-4, atol=1e-5)
        # 291×291: pool5 is 8×8, so the 6×6 classifier fits at 3×3 positions.
        assert dense(torch.randn(1, 3, 291, 291)).shape == (1, 10, 3, 3)




@pytest.mark.parametrize("name", ["vgg16", "vgg19"])
def test_vgg_fc6_becomes_7x7_and_larger_images_give_score_maps(name):
    with torch.device("meta"):
        model = cnnzoo.create(name, num_classes=1000).eval()
        dense = convolutionalize(model)
        head = [m for m in dense.head if isinstance(m, nn.Conv2d)]
        assert [m.kernel_size for m in head] == [(7, 7), (1, 1), (1, 1)]
        assert dense(torch.empty(1, 3, 224, 224)).shape == (1, 1000, 1, 1)
        # VGG's dense evaluation at Q = 384: a 12×12 map, 6×6 positions for the 7×7 window.
        assert dense(torch.empty(1, 3, 384, 384)).shape == (1, 1000, 6, 6)
        with pytest.raises(ValueError, match="7×7"):
            dense(torch.empty(1, 3, 192, 192))


def test_weights_are_copied_and_the_model_is_left_alone(alexnet):
    dense = convolutionalize(alexnet.train())
    alexnet.eval()
    fc6, conv6 = alexnet.classifier.fc6, dense.head[0]
    assert isinstance(fc6, nn.Linear)
    assert torch.equal(conv6.weight.flatten(1), fc6.weight)
    assert torch.equal(conv6.bias, fc6.bias)
    assert conv6.weight.data_ptr() != fc6.weight.data_ptr()  # a copy, not a view
    conv1 = dense.features.conv1
    assert conv1 is not alexnet.features.conv1 and torch.equal(conv1.weight, alexnet.features.conv1.weight)
    assert dense.training  # keeps the mode of the model


def test_models_it_cannot_convert():
    with pytest.raises(ValueError, match="features"):
        convolutionalize(nn.Sequential(nn.Linear(2, 2)))

    class NoPool(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Conv2d(3, 4, 3)
            self.classifier = nn.Sequential(nn.Linear(4 * 2 * 2, 2))

    with pytest.raises(ValueError, match="kernel_size"):
        convolutionalize(NoPool())
    dense = convolutionalize(NoPool(), kernel_size=2)
    assert dense(torch.randn(1, 3, 4, 4)).shape == (1, 2, 1, 1)
