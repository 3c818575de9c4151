"""The training configuration: one dataclass, the same for the CLI and the API."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["TrainConfig"]


@dataclass
class TrainConfig:
    """Everything a training run depends on; saved as ``config.json`` in the run directory.

    Defaults are the recipe of ``cnnzoo train lenet5``: AdamW with a one-cycle
    schedule and light affine jitter, which on the embedded digits matches the
    best tuned support vector machine (see ``benchmarks/RESULTS.md``).
    """

    model: str = "lenet5"
    data: str = "digits"
    epochs: int = 30
    batch_size: int = 64
    optimizer: str = "adamw"
    lr: float | None = None  # None: the optimizer's default in train.optim.DEFAULT_LR
    weight_decay: float = 5e-4
    momentum: float = 0.9
    schedule: str = "onecycle"
    warmup_epochs: float = 0.0
    aug: str = "auto"  # "auto": the data set's own preset ("digits" for digits), else "none"
    label_smoothing: float = 0.0
    aux_weight: float = 0.3  # GoogLeNet §5: auxiliary losses weighted 0.3
    out: str | None = None  # None: runs/<model>-<data>
    resume: str | None = None
    seed: int = 0
    device: str = "auto"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    num_workers: int = 0
    limit_train: int | None = None  # use only the first N training samples (quick checks)
    progress: bool = True

    def validate(self) -> None:
        """Raise a ``ValueError`` naming the first bad field and what is accepted."""
        if self.epochs <= 0:
            raise ValueError(f"--epochs must be a positive integer; got {self.epochs}")
        if self.batch_size <= 0:
            raise ValueError(f"--batch-size must be a positive integer; got {self.batch_size}")
        if self.lr is not None and not self.lr > 0:
            raise ValueError(f"--lr must be a positive number; got {self.lr}")
        if self.weight_decay < 0:
            raise ValueError(f"--weight-decay must be >= 0; got {self.weight_decay}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"--label-smoothing must be in [0, 1); got {self.label_smoothing}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ValueError(f"--device must be auto, cpu or cuda[:N]; got {self.device!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
