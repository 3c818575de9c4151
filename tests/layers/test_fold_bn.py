"""BatchNorm folding: the same function with the BatchNorms gone."""

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.layers.fold_bn import find_conv_bn_pairs, fold_batchnorm, fuse_conv_bn_weights


def _randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) * 2 - 1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            with torch.no_grad():
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.rand(n, generator=g) - 0.5)
    return model.eval()


def test_fused_weights_follow_the_formula():
    conv, bn = nn.Conv2d(3, 4, 3, bias=True), _randomize_bn(nn.Sequential(nn.BatchNorm2d(4)))[0]
    w, b = fuse_conv_bn_weights(conv, bn)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    torch.testing.assert_close(w, conv.weight * scale[:, None, None, None])
    torch.testing.assert_close(b, (conv.bias - bn.running_mean) * scale + bn.bias)


@pytest.mark.parametrize("name,size", [("resnet18", 64), ("mobilenet_v2", 64)])
def test_folded_zoo_model_equals_unfolded(name, size):
    torch.manual_seed(0)
    model = _randomize_bn(cnnzoo.create(name, num_classes=10))
    x = torch.randn(2, 3, size, size)
    folded = fold_batchnorm(model, x)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    torch.testing.assert_close(folded(x), model(x), rtol=1e-5, atol=1e-5)
    # the original is untouched
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())


class _PreAct(nn.Module):
    """BN reads a sum, not a convolution's output: nothing to fold."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x):
        return self.bn(self.conv(x) + x)


class _Shared(nn.Module):
    """One convolution read by a BN and by the output: folding would change the output."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x):
        y = self.conv(x)
        return self.bn(y) + y


def test_data_flow_decides_what_is_folded():
    x = torch.randn(2, 3, 8, 8)
    assert find_conv_bn_pairs(_randomize_bn(_PreAct()), x) == []
    seq = _randomize_bn(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU()))
    assert find_conv_bn_pairs(seq, x) == [("0", "1")]
    with pytest.raises(RuntimeError, match="changed the output"):
        fold_batchnorm(_randomize_bn(_Shared()), x)
