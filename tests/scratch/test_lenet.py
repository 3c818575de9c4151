"""The NumPy LeNet-5: the torch model's architecture, and it learns the digits."""

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

import cnnzoo
from cnnzoo.data.digits import load_digits_arrays
from cnnzoo.scratch.lenet import lenet5, torch_state_dict_names
from cnnzoo.scratch.train import ScratchConfig, evaluate, fit, scheduled_lr


def test_parameter_count_is_the_seed_table():
    assert lenet5().num_parameters() == 61_706  # textbook count: full C3, linear output


@pytest.mark.parametrize(("activation", "pool"), [("relu", "max"), ("tanh", "avg"), ("sigmoid", "max")])
def test_same_function_as_the_torch_lenet5(activation, pool):
    ours = lenet5(activation=activation, pool=pool, dtype=np.float64)
    ref = cnnzoo.create("lenet5", activation=activation, pool=pool).double().eval()
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in torch_state_dict_names(ours.state_dict()).items()})
    x = np.random.default_rng(0).random((3, 1, 32, 32))
    with torch.no_grad():
        expected = ref(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours.eval()(x), expected, rtol=1e-10, atol=1e-12)


def test_reaches_97_percent_on_digits_within_a_fixed_budget():
    d = load_digits_arrays(32)
    model = lenet5(seed=0)
    config = ScratchConfig(epochs=10, batch_size=32, optimizer="adam", lr=2e-3, schedule="cosine", seed=0, target_acc=0.97)
    with threadpool_limits(limits=1):  # small matrices: one BLAS thread is fastest and reproducible
        history = fit(model, d.x_train, d.y_train, d.x_test, d.y_test, config)
        assert max(r["test_acc"] for r in history) >= 0.97
        assert evaluate(model, d.x_test, d.y_test)[1] == history[-1]["test_acc"]
    assert history[-1]["train_loss"] < history[0]["train_loss"] / 5


def test_cosine_schedule_anneals_from_the_base_rate():
    rates = [scheduled_lr(0.1, e, 10, "cosine") for e in range(1, 11)]
    assert rates[0] == 0.1 and rates[5] == pytest.approx(0.05) and rates[-1] < 0.003
    assert all(a > b for a, b in zip(rates, rates[1:], strict=False))
    assert scheduled_lr(0.1, 7, 10, "constant") == 0.1


def test_bad_lenet_options():
    with pytest.raises(ValueError, match="activation must be one of"):
        lenet5(activation="gelu")
    with pytest.raises(ValueError, match="not a LeNet-5 parameter"):
        torch_state_dict_names({"c2.weight": np.zeros(1)})
    with pytest.raises(ValueError, match="schedule must be one of"):
        ScratchConfig(schedule="step")
