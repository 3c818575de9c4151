"""A NumPy training loop: mini-batch SGD-family training with softmax cross-entropy.

Reads top to bottom: shuffle, and for each mini-batch ``forward → loss → backward →
step``; after each epoch, evaluate on the test set and report one row with the same
keys as ``cnnzoo train`` (``epoch, train_loss, train_acc, test_loss, test_acc, lr,
images_per_s, seconds``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cnnzoo.scratch.layers import Module
from cnnzoo.scratch.losses import softmax_cross_entropy_loss
from cnnzoo.scratch.optim import Optimizer, create_optimizer

__all__ = ["ScratchConfig", "SCHEDULES", "ScratchDiverged", "scheduled_lr", "evaluate", "train_epoch", "fit"]


class ScratchDiverged(ValueError):
    """The loss or the weights became NaN or infinite (a learning rate far too large, usually)."""


@dataclass
class ScratchConfig:
    """What ``cnnzoo scratch train`` varies. ``lr=None`` takes the optimizer's default."""

    epochs: int = 10
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float | None = None
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    schedule: str = "cosine"
    seed: int = 0
    target_acc: float | None = None  # stop after the first epoch that reaches it

    def __post_init__(self) -> None:
        # The same limits as cnnzoo train's: a run that could never finish is refused, not started.
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be positive; got {self.epochs}, {self.batch_size}")
        if self.epochs > MAX_EPOCHS or self.batch_size > MAX_BATCH:
            raise ValueError(f"epochs must be at most {MAX_EPOCHS} and batch_size at most {MAX_BATCH}; got {self.epochs}, {self.batch_size}")
        if self.lr is not None and not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0; got {self.lr}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}; got {self.schedule!r}")


SCHEDULES = ("constant", "cosine")
MAX_EPOCHS, MAX_BATCH = 1_000_000, 1 << 20


def scheduled_lr(base_lr: float, epoch: int, epochs: int, schedule: str) -> float:
    """Learning rate for ``epoch`` (1-based): constant, or cosine annealing without restarts
    (Loshchilov & Hutter 2017) ``η_e = η₀ · ½ (1 + cos(π (e - 1) / E))``, set once per epoch."""
    if schedule == "constant":
        return base_lr
    return base_lr * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / epochs))


def evaluate(model: Module, x: np.ndarray, y: np.ndarray, batch_size: int = 500) -> tuple[float, float]:
    """Mean cross-entropy and accuracy (a fraction) of ``model`` in evaluation mode."""
    was_training = model.training
    model.eval()
    loss_sum, correct = 0.0, 0
    for i in range(0, len(x), batch_size):
        scores = model.forward(x[i : i + batch_size])
        loss, _ = softmax_cross_entropy_loss(scores.astype(np.float64), y[i : i + batch_size])
        loss_sum += loss * len(scores)
        correct += int((scores.argmax(axis=1) == y[i : i + batch_size]).sum())
    model.train(was_training)
    return loss_sum / len(x), correct / len(x)


def train_epoch(
    model: Module,
    optimizer: Optimizer,
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    rng: np.random.Generator,
    label_smoothing: float = 0.0,
    on_batch: Callable[[int], None] | None = None,
) -> tuple[float, float]:
    """One pass over ``(x, y)`` in a random order; returns mean loss and accuracy."""
    model.train()
    order = rng.permutation(len(x))
    loss_sum, correct = 0.0, 0
    for i in range(0, len(x), batch_size):
        idx = order[i : i + batch_size]
        # Overflow is what divergence looks like; it is reported below as one error, not as warnings.
        with np.errstate(over="ignore", invalid="ignore"):
            scores = model.forward(x[idx])
            loss, dscores = softmax_cross_entropy_loss(scores, y[idx], label_smoothing)
        if not math.isfinite(loss):
            raise ScratchDiverged(f"the loss became {loss} at batch {i // batch_size + 1}")
        optimizer.zero_grad()
        with np.errstate(over="ignore", invalid="ignore"):
            model.backward(dscores.astype(scores.dtype, copy=False))
            optimizer.step()
        loss_sum += loss * len(idx)
        correct += int((scores.argmax(axis=1) == y[idx]).sum())
        if on_batch is not None:
            on_batch(len(idx))
    return loss_sum / len(x), correct / len(x)


def fit(
    model: Module,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    config: ScratchConfig,
    on_epoch: Callable[[dict], None] | None = None,
    on_batch: Callable[[int], None] | None = None,
    optimizer: Optimizer | None = None,
) -> list[dict]:
    """Train for ``config.epochs`` (or until ``config.target_acc``); one metrics row per epoch."""
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise ValueError(
            f"images and labels must have the same length; got train {len(x_train)}/{len(y_train)}, "
            f"test {len(x_test)}/{len(y_test)}"
        )
    rng = np.random.default_rng(config.seed)
    opt = optimizer or create_optimizer(config.optimizer, model.parameters(), config.lr, config.weight_decay)
    history = []
    base_lr = opt.lr
    for epoch in range(1, config.epochs + 1):
        opt.lr = scheduled_lr(base_lr, epoch, config.epochs, config.schedule)
        start = time.perf_counter()
        try:
            train_loss, train_acc = train_epoch(model, opt, x_train, y_train, config.batch_size, rng, config.label_smoothing, on_batch)
        except ScratchDiverged as e:
            raise ScratchDiverged(f"{e} of epoch {epoch}") from None
        bad = [name for name, p in model.named_parameters() if not np.isfinite(p.data).all()]
        if bad:  # the last step's update overflowed; the next forward would give a NaN loss
            raise ScratchDiverged(f"the weights became NaN or infinite in epoch {epoch} ({', '.join(bad[:3])})")
        seconds = time.perf_counter() - start
        test_loss, test_acc = evaluate(model, x_test, y_test)
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            "train_acc": train_acc,
            "test_loss": test_loss,
            "test_acc": test_acc,
            "lr": opt.lr,
            "images_per_s": len(x_train) / seconds,
            "seconds": seconds,
        }
        history.append(row)
        if on_epoch is not None:
            on_epoch(row)
        if config.target_acc is not None and test_acc >= config.target_acc:
            break
    return history
