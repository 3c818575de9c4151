"""U-Net: figure 1's sizes (572 → 388), parameter count, the padded variant, initialisation."""

from __future__ import annotations

import pytest
import torch

import cnnzoo
from cnnzoo.models.unet import UNet


def test_572_gives_388_and_figure_1_sizes():
    sizes: list[int] = []
    with torch.device("meta"):
        model = cnnzoo.create("unet")
        for block in list(model.down) + [u.conv for u in model.up]:
            block.register_forward_hook(lambda m, i, o: sizes.append(o.shape[-1]))
        out = model(torch.empty(1, 1, 572, 572))
    assert out.shape == (1, 2, 388, 388)
    # figure 1: 568, 280, 136, 64, bottom 28; then 52, 100, 196, 388
    assert sizes == [568, 280, 136, 64, 28, 52, 100, 196, 388]


def test_parameter_count_from_the_figure():
    with torch.device("meta"):
        n = sum(p.numel() for p in cnnzoo.create("unet").parameters())
    w = [64, 128, 256, 512, 1024]

    def conv(k, cin, cout):
        return k * k * cin * cout + cout

    expected = conv(3, 1, 64) + conv(3, 64, 64)
    expected += sum(conv(3, w[i], w[i + 1]) + conv(3, w[i + 1], w[i + 1]) for i in range(4))
    expected += sum(conv(2, w[i + 1], w[i]) + conv(3, 2 * w[i], w[i]) + conv(3, w[i], w[i]) for i in range(4))
    expected += conv(1, 64, 2)
    assert n == expected
    assert abs(n - 31e6) <= 0.5e6  # the commonly quoted ~31M


@pytest.mark.parametrize("size", [(16, 16), (17, 23), (64, 64), (100, 37)])
def test_padded_variant_keeps_the_size(size):
    with torch.device("meta"):
        model = cnnzoo.create("unet", padding=True, num_classes=3, in_chans=3)
        assert model(torch.empty(2, 3, *size)).shape == (2, 3, *size)


def test_small_sizes_raise_with_the_smallest():
    with torch.device("meta"):
        with pytest.raises(ValueError, match="188"):
            cnnzoo.create("unet")(torch.empty(1, 1, 187, 200))
        with pytest.raises(ValueError, match="16"):
            cnnzoo.create("unet", padding=True)(torch.empty(1, 1, 15, 15))
    with pytest.raises(ValueError, match="base_width"):
        UNet(base_width=0)


def test_small_padded_unet_trains_and_init_std():
    torch.manual_seed(0)
    model = UNet(num_classes=4, in_chans=1, padding=True, base_width=4)
    x = torch.randn(2, 1, 32, 32)
    out = model(x)
    loss = torch.nn.functional.cross_entropy(out, torch.randint(0, 4, (2, 32, 32)))
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    # std sqrt(2 / N), N = 3·3·C_in (§3): checked on the widest convolution.
    big = UNet(base_width=16).down[4].conv2.weight  # 256 -> 256, 3×3
    assert abs(big.std().item() - (2 / (9 * 256)) ** 0.5) < 0.02 * (2 / (9 * 256)) ** 0.5


@pytest.fixture
def one_thread():
    # Small convolutions gain nothing from a second thread on a busy 2-core machine.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.slow
def test_trains_on_digits_seg_through_the_api(tmp_path, one_thread):
    # The smallest set-up, end to end: the loop's segmentation branch (per-pixel
    # cross-entropy, pixel accuracy and mean IoU) on the embedded digits canvases.
    from cnnzoo.train import TrainConfig, train

    config = TrainConfig(
        model="unet", data="digits-seg", epochs=1, batch_size=16, limit_train=32, lr=3e-3,
        model_kwargs={"padding": True, "base_width": 4}, out=str(tmp_path / "run"), progress=False,
    )  # fmt: skip
    result = train(config)
    row = result.rows[-1]
    assert 0.0 <= row["test_miou"] <= 1.0 and 0.0 <= row["test_acc"] <= 1.0
    assert row["train_loss"] > 0 and row["train_loss"] < 10
    assert (tmp_path / "run" / "metrics.jsonl").exists()
