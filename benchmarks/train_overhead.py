"""Images/s of ``cnnzoo.train`` against a bare hand-written PyTorch loop, side by side.

Same model, data (the embedded digits at 32×32, no augmentation), batch size,
optimizer (AdamW), per-step schedule and normalisation. Both sides time the
training passes only (evaluation excluded) and run alternately (which one goes
first alternates too), so the load of a shared machine falls on both alike; the
first epoch of every run is a warm-up and left out; the table gives the median
of the remaining epochs and the ratio. Besides wall-clock images/s it reports
images per CPU-second of the process (one torch thread, no workers), which
other jobs on a loaded machine disturb far less. The overhead is what cnnzoo adds per step: NaN checks, the
resumable sampler, the task's running metric, the callbacks' per-step hooks (stopping rules,
checkpoint cadence, progress bar).

    python benchmarks/train_overhead.py [--rounds 4] [--epochs 4] [--threads 1]
"""

from __future__ import annotations

import argparse
import importlib
import math
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

import cnnzoo
from cnnzoo.data import build_data
from cnnzoo.train import TrainConfig, train
from cnnzoo.train.optim import DEFAULT_LR
from cnnzoo.train.pipeline import channel_stats
from cnnzoo.train.schedules import build_schedule

# The module, not the function of the same name that cnnzoo.train exports.
fit = importlib.import_module("cnnzoo.train.fit")


def bare_loop(model_name: str, epochs: int, batch_size: int, limit: int, seed: int) -> list[tuple[float, float]]:
    """(images per wall second, per CPU second) of each epoch of the simplest correct loop."""
    torch.manual_seed(seed)
    bundle = build_data("digits")
    ds = torch.utils.data.Subset(bundle.train, range(min(limit, len(bundle.train))))
    mean, std = channel_stats(ds)
    mean_t, std_t = torch.tensor(mean).view(1, -1, 1, 1), torch.tensor(std).view(1, -1, 1, 1)
    model = cnnzoo.create(model_name, num_classes=10, in_chans=1)
    opt = torch.optim.AdamW(model.parameters(), lr=DEFAULT_LR["adamw"], weight_decay=TrainConfig.weight_decay)
    steps = math.ceil(len(ds) / batch_size)
    sched = build_schedule("onecycle", opt, epochs * steps, steps)
    rates = []
    for epoch in range(epochs):
        loader = DataLoader(ds, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(epoch))
        model.train()
        start, cpu, seen = time.perf_counter(), time.process_time(), 0
        for x, y in loader:
            x = (x - mean_t) / std_t
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            seen += len(y)
        rates.append((seen / (time.perf_counter() - start), seen / (time.process_time() - cpu)))
    return rates


def cnnzoo_loop(model_name: str, epochs: int, batch_size: int, limit: int, seed: int) -> list[tuple[float, float]]:
    """The same for ``cnnzoo.train``: its ``train_epoch`` (with every callback's per-step hook) timed from outside."""
    rates = []
    inner = fit.train_epoch

    def timed(run, epoch, cbs):
        start, cpu = time.perf_counter(), time.process_time()
        row = inner(run, epoch, cbs)
        seen = len(run.train_loader.sampler)
        rates.append((seen / (time.perf_counter() - start), seen / (time.process_time() - cpu)))
        return row

    fit.train_epoch = timed
    try:
        with tempfile.TemporaryDirectory() as out:
            cfg = TrainConfig(model=model_name, data="digits", epochs=epochs, batch_size=batch_size, limit_train=limit, aug="none",
                              out=out, overwrite=True, progress=False, seed=seed)  # fmt: skip
            train(cfg)
    finally:
        fit.train_epoch = inner
    return rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--models", default="lenet5:64:1347,resnet20:64:256", help="name:batch:train-samples,…")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {args.rounds} rounds × {args.epochs} epochs")
    print(f"{'model':<9} {'batch':>5} | {'wall img/s: bare':>16} {'cnnzoo':>7} {'ratio':>6} | {'CPU img/s: bare':>15} {'cnnzoo':>7} {'ratio':>6} {'overhead':>8}")
    for spec in args.models.split(","):
        name, batch, limit = spec.split(":")
        bare, ours = [], []
        for r in range(args.rounds):  # alternate, so both see the same machine load
            sides = [(bare, bare_loop), (ours, cnnzoo_loop)]
            for rates, fn in sides if r % 2 == 0 else sides[::-1]:
                rates += fn(name, args.epochs, int(batch), int(limit), r)[1:]
        bw, ow = statistics.median(x[0] for x in bare), statistics.median(x[0] for x in ours)
        bc, oc = statistics.median(x[1] for x in bare), statistics.median(x[1] for x in ours)
        print(f"{name:<9} {batch:>5} | {bw:>16.0f} {ow:>7.0f} {ow / bw:>6.3f} | {bc:>15.0f} {oc:>7.0f} {oc / bc:>6.3f} {1 - oc / bc:>8.1%}")


if __name__ == "__main__":
    main()
