"""``fit(run)``: the training loop, for epoch → for batch → loss → step.

Everything around the loop hangs off it as callbacks (:mod:`cnnzoo.train.callbacks`):
logging, checkpoints, stopping rules, plots, the progress bar. The loop itself
knows no task: the run's task computes the loss and the metrics.

Exact resume: the order of the training data is a permutation seeded by
``(seed, epoch)``, each batch's augmentation is seeded by ``(seed, epoch, batch)``,
and a checkpoint holds the model, optimizer, schedule, scaler and RNG states and
the position within the epoch, so on CPU a resumed run ends with the same
weights, bit for bit, as one never interrupted.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from cnnzoo.train import distributed as D
from cnnzoo.train.callbacks import Callback, CallbackList
from cnnzoo.train.evaluation import evaluate
from cnnzoo.train.losses import l1_penalty
from cnnzoo.train.run import Run
from cnnzoo.train.state import Position, TrainingDiverged, TrainState

__all__ = ["EpochProgress", "fit", "train_epoch", "train_step"]


def fit(run: Run, callbacks: Sequence[Callback] = ()) -> TrainState:
    """Train ``run`` from where its state stands to ``config.epochs``; returns the final state."""
    cbs = CallbackList(callbacks)
    cbs.on_fit_start(run)
    with _catch_interrupts(run.state):
        for epoch in range(run.state.epoch + 1, run.config.epochs + 1):
            start = time.perf_counter()
            row = train_epoch(run, epoch, cbs)
            if row is None:  # stopped mid-epoch: the checkpoint holds the position
                break
            row |= {f"{run.eval_name}_{k}": v for k, v in _evaluate(run).items()}
            row |= _throughput(run, row) | {"seconds": time.perf_counter() - start}
            score = row[f"{run.eval_name}_{run.task.score_key}"]
            improved = run.state.observe(score)
            if run.plateau is not None:
                run.plateau.observe(score)
            run.state.epoch, run.state.position, run.state.last_row = epoch, None, row
            run.state.take_interrupt()
            cbs.on_epoch_end(run, row, improved)
            if run.state.stop_reason:
                break
    cbs.on_fit_end(run)
    return run.state


class EpochProgress:
    """The running sums of an epoch, kept on the device (reading them would wait for the GPU).

    Under DDP a mid-epoch checkpoint holds the sums of all processes, and on
    resume rank 0 alone carries them on, so that the epoch's row counts each
    sample once.
    """

    def __init__(self, run: Run, epoch: int) -> None:
        pos = run.state.position if run.state.position and run.state.position.epoch == epoch else Position(epoch, 0, 0.0, 0)
        carry = run.is_main
        self.dist, self.epoch, self.batch, self.seen = run.dist, epoch, pos.batch, pos.seen if carry else 0
        self.loss_sum = torch.tensor(pos.loss_sum if carry else 0.0, dtype=torch.float64, device=run.device)
        self.meter = run.task.train_meter(run.device)
        if pos.meter and carry:
            self.meter.load_state(pos.meter)
        self.start, self.seen_here = time.perf_counter(), 0

    def position(self) -> Position:
        """Where the epoch stands, summed over processes (every process must call it)."""
        meter = self.meter.state()
        sums = torch.tensor([float(self.loss_sum), self.seen, *meter.values()], dtype=torch.float64, device=self.loss_sum.device)
        D.all_reduce_sum(sums, self.dist)
        values = sums.tolist()
        return Position(self.epoch, self.batch, values[0], int(values[1]), dict(zip(meter, values[2:])))

    def row(self, run: Run) -> dict[str, Any]:
        """The epoch's training metrics (summed over processes under DDP)."""
        sums = torch.tensor([float(self.loss_sum), self.seen], dtype=torch.float64, device=run.device)
        D.all_reduce_sum(sums, run.dist)
        train = {f"train_{k}": v for k, v in self.meter.compute().items()}
        seconds = time.perf_counter() - self.start
        return {"epoch": self.epoch, "train_loss": float(sums[0] / sums[1].clamp_min(1)), **train,
                "images_per_s": self.seen_here * run.dist.world_size / max(seconds, 1e-9)}  # fmt: skip


def train_epoch(run: Run, epoch: int, cbs: CallbackList) -> dict[str, Any] | None:
    """One pass over the training data; the epoch's row, or ``None`` if a callback stopped it midway."""
    run.model.train()
    progress = EpochProgress(run, epoch)
    run.train_loader.sampler.set_epoch(epoch, progress.batch * run.config.batch_size)
    check_every = 1 if run.device.type == "cpu" else 25  # a finiteness check waits for the GPU
    loss = None
    for x, y in run.train_loader:
        run.aug_seed(epoch, progress.batch)
        loss, outputs, y = train_step(run, x, y)
        n = run.task.batch_size(y)
        progress.loss_sum += loss.detach().double() * n
        progress.meter.update(outputs, y)
        progress.seen, progress.seen_here, progress.batch = progress.seen + n, progress.seen_here + n, progress.batch + 1
        run.state.step += 1
        if progress.batch % check_every == 0:
            _check_finite(run, progress.loss_sum, loss)
        run.state.take_interrupt()
        cbs.on_step_end(run, progress, n)
        if run.state.stop_reason:
            return None
    _check_finite(run, progress.loss_sum, loss)
    return progress.row(run)


def train_step(run: Run, x: Tensor, y: Any) -> tuple[Tensor, Any, Any]:
    """Forward, loss, backward and one optimizer step on a batch; returns ``(loss, outputs, target)``."""
    x, y = x.to(run.device, non_blocking=True), run.task.to_device(y, run.device)
    if run.augment is not None:
        x, y = run.task.augment_batch(run.augment, x, y)
    x = run.pipeline(x, augmented=run.augment is not None)
    with run.autocast():
        outputs = run.model(x)
        loss = run.loss(outputs, y)
    if run.config.l1:
        loss = loss + run.config.l1 * l1_penalty(run.module)
    run.optimizer.zero_grad(set_to_none=True)
    clips = run.config.clip_grad_value or run.config.clip_grad_norm
    if run.scaler is not None:
        run.scaler.scale(loss).backward()
        if clips:
            run.scaler.unscale_(run.optimizer)  # clip the true gradients, not the scaled ones
            clip_gradients(run)
        run.scaler.step(run.optimizer)
        run.scaler.update()
    else:
        loss.backward()
        if clips:
            clip_gradients(run)
        run.optimizer.step()
    run.schedule.step()
    return loss, outputs, y


def clip_gradients(run: Run) -> None:
    """Clamp each gradient element to ``[-clip_grad_value, clip_grad_value]``, then clip the global norm.

    Value first, so that the norm bound, when both are set, holds for the
    gradients the optimizer sees.
    """
    params = run.module.parameters()
    if run.config.clip_grad_value:
        nn.utils.clip_grad_value_(params, run.config.clip_grad_value)
        params = run.module.parameters()
    if run.config.clip_grad_norm:
        nn.utils.clip_grad_norm_(params, run.config.clip_grad_norm)


def _check_finite(run: Run, loss_sum: Tensor, loss: Tensor | None) -> None:
    if loss is not None and not torch.isfinite(loss_sum):
        kept = run.state.saved or "none was written before"
        raise TrainingDiverged(
            f"the loss became {float(loss.detach())} by step {run.state.step}; lower --lr (or use --clip-grad-norm) "
            f"or check the data. The last good checkpoint is kept: {kept}"
        )


def _evaluate(run: Run) -> dict[str, Any]:
    result = evaluate(run.model, run.eval_loader, run.pipeline, run.task, run.device, autocast_dtype=run.autocast_dtype)
    return {k: v for k, v in result.items() if isinstance(v, (int, float))}


def _throughput(run: Run, row: dict[str, Any]) -> dict[str, Any]:
    out = {"lr": run.optimizer.param_groups[-1]["lr"]}
    if run.macs_per_image:
        out["tflops"] = row["images_per_s"] * 6 * run.macs_per_image / 1e12  # forward 2·MACs, backward about twice that
        if run.peak_tflops:
            out["mfu"] = out["tflops"] / run.peak_tflops
    return out


@contextmanager
def _catch_interrupts(state: TrainState) -> Iterator[None]:
    """SIGINT and SIGTERM stop the loop after the current step (which the checkpointer then saves)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        state.interrupt_requested = True  # acted on between steps, where the state is consistent

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
