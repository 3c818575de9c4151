"""Wall time of ``cnnzoo.train.train`` end to end against a minimal PyTorch loop doing the same work.

Both sides, in one process, start from the embedded digits (32×32) and end
with a trained model: data, model, AdamW (the recipe's learning rate and
weight decay) with the one-cycle schedule stepped per batch, the digits'
affine jitter on each batch, one evaluation on the test split per epoch and
one at the end. Like with like: both feed contiguous NCHW batches (the digits
are stored with channels-last strides at C = 1; indexing them directly would
run the convolutions down the channels-last path without saying so), or both
channels_last where cnnzoo's ``--channels-last`` resolves to it.

What cnnzoo does on top is its cost: the resumable sampler, the running
metrics and finiteness checks, checkpoints (``checkpoint-last`` every epoch,
``checkpoint-best`` on improvement, written to a temporary file, fsync'd and
renamed), ``metrics.jsonl``/``metrics.csv``, the learning curves and the
final report (``evaluation.json``, confusion matrix, ROC and PR curves).

Rounds alternate which side goes first; the table gives the median wall time
of each and their ratio, then where cnnzoo's time went in its last round.

    python benchmarks/train_overhead.py [--rounds 3] [--runs lenet5:40,resnet20:2] [--threads 1]
"""

from __future__ import annotations

import argparse
import collections
import functools
import importlib
import statistics
import tempfile
import time
from typing import Any

import torch
import torch.nn.functional as F

import cnnzoo
from cnnzoo.data import build_data
from cnnzoo.data.augment import build_augment
from cnnzoo.train import TrainConfig, train
from cnnzoo.train.memory_format import use_channels_last
from cnnzoo.train.optim import DEFAULT_LR
from cnnzoo.train.schedules import build_schedule

PHASES = [  # (module, function): where the cnnzoo side's time goes
    ("cnnzoo.train.loop", "setup"), ("cnnzoo.train.fit", "train_epoch"), ("cnnzoo.train.fit", "_evaluate"),
    ("cnnzoo.train.callbacks", "save_checkpoint"), ("cnnzoo.train.plots", "_save"), ("cnnzoo.train.loop", "final_test"),
]  # fmt: skip


def bare_loop(model_name: str, epochs: int, seed: int, channels_last: bool) -> float:
    """Seconds for the minimal loop: data, model, ``epochs`` of training with an evaluation after each."""
    start = time.perf_counter()
    c = TrainConfig()
    torch.manual_seed(seed)
    data = build_data("digits")
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x_train, y_train = (t.clone(memory_format=fmt) if t.dim() == 4 else t for t in data.train.tensors)
    x_test, y_test = (t.clone(memory_format=fmt) if t.dim() == 4 else t for t in data.test.tensors)
    mean, std = x_train.mean(), x_train.std()
    model = cnnzoo.create(model_name, num_classes=10, in_chans=1).to(memory_format=fmt)
    opt = torch.optim.AdamW(model.parameters(), lr=DEFAULT_LR["adamw"], weight_decay=c.weight_decay)
    n, b = len(y_train), c.batch_size
    steps = -(-n // b)
    sched = build_schedule("onecycle", opt, epochs * steps, steps)
    gen = torch.Generator().manual_seed(seed)
    augment = build_augment("digits", gen, in_chans=1, image_size=(32, 32))
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch))
        for i in range(0, n, b):
            idx = order[i : i + b]
            x = ((augment(x_train[idx]) - mean) / std).contiguous(memory_format=fmt)
            loss = F.cross_entropy(model(x), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        _accuracy(model, x_test, y_test, mean, std)
    _accuracy(model, x_test, y_test, mean, std)  # the final test
    return time.perf_counter() - start


@torch.no_grad()
def _accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> float:
    model.eval()
    correct = sum(int((model((x[i : i + 256] - mean) / std).argmax(1) == y[i : i + 256]).sum()) for i in range(0, len(y), 256))
    return correct / len(y)


def cnnzoo_train(model_name: str, epochs: int, seed: int, phases: collections.Counter) -> float:
    """Seconds for ``train(TrainConfig(...))`` with the default recipe; ``phases`` gets the time of each part."""
    with tempfile.TemporaryDirectory() as out, _timed(phases):
        start = time.perf_counter()
        train(TrainConfig(model=model_name, data="digits", epochs=epochs, out=f"{out}/run", progress=False, seed=seed))
        return time.perf_counter() - start


class _timed:
    """Wraps the functions of :data:`PHASES` to add their wall time to a counter, and unwraps them."""

    def __init__(self, counter: collections.Counter) -> None:
        self.counter, self.saved = counter, []

    def __enter__(self) -> None:
        for mod, name in PHASES:
            module = importlib.import_module(mod)
            fn = getattr(module, name)
            self.saved.append((module, name, fn))
            setattr(module, name, self._wrap(fn, name))

    def _wrap(self, fn: Any, name: str) -> Any:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.counter[name] += time.perf_counter() - start

        return timed

    def __exit__(self, *exc: object) -> None:
        for module, name, fn in self.saved:
            setattr(module, name, fn)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", default="lenet5:40,resnet20:2", help="model:epochs,…")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {args.rounds} rounds, median wall seconds")
    print("| model | epochs | channels_last | bare loop s | cnnzoo train s | cnnzoo / bare |\n|---|---|---|---|---|---|")
    breakdowns = {}
    for spec in args.runs.split(","):
        name, epochs = spec.split(":")
        cl = use_channels_last(None, name, torch.device("cpu"))
        cnnzoo_train(name, 1, 0, collections.Counter())  # warm-up: imports, first-call costs of both sides
        bare, ours = [], []
        for r in range(args.rounds):
            phases: collections.Counter = collections.Counter()
            sides = [(bare, functools.partial(bare_loop, name, int(epochs), r, cl)),
                     (ours, functools.partial(cnnzoo_train, name, int(epochs), r, phases))]  # fmt: skip
            for times, fn in sides if r % 2 == 0 else sides[::-1]:
                times.append(fn())
        b, o = statistics.median(bare), statistics.median(ours)
        breakdowns[spec] = phases | {"total": ours[-1]}
        print(f"| {name} | {epochs} | {cl} | {b:.2f} | {o:.2f} | {o / b:.3f} |", flush=True)
    for spec, phases in breakdowns.items():
        print(f"\n{spec}, cnnzoo's last round: " + ", ".join(f"{k} {v:.2f} s" for k, v in phases.items()))


if __name__ == "__main__":
    main()
