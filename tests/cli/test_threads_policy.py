"""How many threads torch gets: one for a small model, the free CPUs for a big one, the user's choice always."""

from __future__ import annotations

import pytest
import torch

from cnnzoo.threads import (
    SMALL_MACS_PER_STEP,
    apply_thread_policy,
    choose_threads,
    explicit_threads,
)

LENET5_MACS = 416_520  # cnnzoo's own count, per 1x32x32 image
RESNET18_32_MACS = 37_000_000  # about, per 3x32x32 image


def test_a_small_model_gets_one_thread_whatever_the_machine():
    assert LENET5_MACS * 32 < SMALL_MACS_PER_STEP
    assert choose_threads(LENET5_MACS, 32, cpus=64, load=0.0) == 1


@pytest.mark.parametrize("cpus,load,expected", [(2, 0.1, 2), (2, 8.0, 1), (16, 4.2, 12), (8, 0.0, 8)])
def test_a_big_model_gets_the_cpus_other_work_leaves_free(cpus, load, expected):
    assert choose_threads(RESNET18_32_MACS, 32, cpus=cpus, load=load) == expected
    assert choose_threads(None, 32, cpus=cpus, load=load) == expected  # unknown size: treated as big


@pytest.mark.parametrize("value,expected", [("3", 3), ("4,2", 4), ("", None), ("zero", None), ("0", None)])
def test_explicit_threads_reads_omp_num_threads(monkeypatch, value, expected):
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    assert explicit_threads() == expected


def test_the_users_choice_wins_over_the_policy(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        assert apply_thread_policy(LENET5_MACS) == 2 == torch.get_num_threads()
        monkeypatch.delenv("OMP_NUM_THREADS")
        assert apply_thread_policy(LENET5_MACS) == 1 == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)



def test_start_up_takes_the_cpus_other_work_leaves_free(monkeypatch):
    import cnnzoo.threads as threads

    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "usable_cpus", lambda: 2)
    try:
        monkeypatch.setattr(threads.os, "getloadavg", lambda: (9.0, 9.0, 9.0))
        assert threads.configure_threads() == 1 == torch.get_num_threads()  # busy: one thread
        monkeypatch.setattr(threads.os, "getloadavg", lambda: (0.2, 0.2, 0.2))
        assert threads.configure_threads() == 2 == torch.get_num_threads()  # idle: every CPU
    finally:
        torch.set_num_threads(before)


def test_the_cnnzoo_command_sets_threads_before_any_command_runs(monkeypatch):
    import cnnzoo.threads as threads
    from cnnzoo.cli import main

    calls = []
    monkeypatch.setattr(threads, "configure_threads", lambda: calls.append("threads") or 1)
    monkeypatch.setattr("sys.argv", ["cnnzoo", "list", "--names", "lenet*"])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 0 and calls == ["threads"]
