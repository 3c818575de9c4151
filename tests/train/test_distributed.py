"""A 2-process DistributedDataParallel run on CPU with the gloo backend."""

from __future__ import annotations

import os
import socket

import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from cnnzoo.train.checkpoint import load_checkpoint


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str, dump: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from cnnzoo.train import TrainConfig, train

    cfg = TrainConfig(model="lenet5", data="digits", epochs=1, batch_size=16, limit_train=96, out=out, device="cpu", progress=False, aug="digits", checkpoint_every=0)
    result = train(cfg)
    save_file({k: v.contiguous() for k, v in result.model.state_dict().items()}, f"{dump}/rank{rank}.safetensors")


def test_two_process_gloo_run_agrees_and_writes_one_checkpoint(tmp_path):
    out, dump = tmp_path / "run", tmp_path / "dump"
    dump.mkdir()
    mp.start_processes(_worker, args=(2, _free_port(), str(out), str(dump)), nprocs=2, join=True, start_method="spawn")
    w0, w1 = load_file(dump / "rank0.safetensors"), load_file(dump / "rank1.safetensors")
    assert w0.keys() == w1.keys() and all(torch.equal(w0[k], w1[k]) for k in w0)
    ckpt = load_checkpoint(out / "checkpoint-last")
    assert all(torch.equal(ckpt.model[k], w0[k]) for k in w0)
    # 96 samples over 2 processes at 16 per batch: 3 steps, each on 32 samples.
    assert ckpt.meta.step == 3 and ckpt.meta.epoch == 1
    assert sorted(p.name for p in out.glob("checkpoint-*.safetensors")) == ["checkpoint-best.safetensors", "checkpoint-last.safetensors"]
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1  # rank 0 alone logs
