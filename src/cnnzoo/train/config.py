"""The training configuration: one dataclass, the same for the CLI and the API."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["TrainConfig"]


@dataclass
class TrainConfig:
    """Everything a training run depends on; saved as ``config.json`` in the run directory.

    Defaults are the recipe of ``cnnzoo train lenet5``: AdamW (peak learning
    rate 5e-3, weight decay 5e-4) with a one-cycle schedule, batches of 32,
    40 epochs and light affine jitter. On the embedded digits it reaches
    99.1–99.8% (three seeds), level with the best tuned support vector
    machine (99.33%; see ``benchmarks/RESULTS.md``).
    """

    model: str = "lenet5"
    data: str = "digits"
    epochs: int = 40
    batch_size: int = 32
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
    # Data: a validation split carved from the training set, a subset of classes, the image side.
    val_split: float = 0.0
    classes: list[int] | None = None
    image_size: int | None = None
    # Loss and regularisation.
    loss: str = "auto"  # "auto": cross_entropy, or bce for multi-label data
    l1: float = 0.0
    clip_grad_norm: float | None = None
    patience: int | None = None  # early stopping: epochs without a better validation score
    stop_at: float | None = None  # stop once the validation (or test) score reaches this
    plateau_patience: int = 2  # --schedule plateau: epochs without improvement before lr / 10
    threshold: float = 0.5  # multi-label: a label is predicted when its sigmoid exceeds this
    # Speed.
    precision: str = "fp32"  # fp32, bf16 or fp16 autocast (on CUDA; fp32 on CPU)
    channels_last: bool = False
    compile: bool = False
    pin_memory: bool = True
    persistent_workers: bool = True
    peak_tflops: float | None = None  # the device's peak, for model FLOPs utilisation
    # Checkpoints.
    checkpoint_every: int = 0  # also write checkpoint-last every N optimizer steps (0: per epoch only)
    max_steps: int | None = None  # stop (after a checkpoint) once this many optimizer steps are done
    # Distributed.
    sync_bn: bool = False
    # Fine-tuning.
    init: str | None = None  # checkpoint whose weights (all but the output layer) start the run
    freeze: str | None = None  # "backbone": train only the new output layer
    backbone_lr_mult: float = 1.0

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
        if not 0 <= self.val_split < 1:
            raise ValueError(f"--val-split must be in [0, 1); got {self.val_split}")
        if self.image_size is not None and self.image_size <= 0:
            raise ValueError(f"--image-size must be a positive integer; got {self.image_size}")
        if self.l1 < 0:
            raise ValueError(f"--l1 must be >= 0; got {self.l1}")
        if self.clip_grad_norm is not None and not self.clip_grad_norm > 0:
            raise ValueError(f"--clip-grad-norm must be positive; got {self.clip_grad_norm}")
        if self.patience is not None and self.patience <= 0:
            raise ValueError(f"--patience must be a positive integer; got {self.patience}")
        if self.stop_at is not None and not 0 < self.stop_at <= 1:
            raise ValueError(f"--stop-at must be in (0, 1]; got {self.stop_at}")
        if self.plateau_patience < 0:
            raise ValueError(f"--plateau-patience must be >= 0; got {self.plateau_patience}")
        if not 0 < self.threshold < 1:
            raise ValueError(f"--threshold must be in (0, 1); got {self.threshold}")
        if self.precision not in ("fp32", "bf16", "fp16"):
            raise ValueError(f"--precision must be fp32, bf16 or fp16; got {self.precision!r}")
        if self.checkpoint_every < 0:
            raise ValueError(f"--checkpoint-every must be >= 0; got {self.checkpoint_every}")
        if self.max_steps is not None and self.max_steps <= 0:
            raise ValueError(f"--max-steps must be a positive integer; got {self.max_steps}")
        if self.freeze not in (None, "backbone"):
            raise ValueError(f"--freeze accepts only 'backbone'; got {self.freeze!r}")
        if self.freeze and not self.init:
            raise ValueError("--freeze backbone needs --init CHECKPOINT (a backbone to keep)")
        if not self.backbone_lr_mult > 0:
            raise ValueError(f"--backbone-lr-mult must be positive; got {self.backbone_lr_mult}")
        if self.num_workers < 0:
            raise ValueError(f"--workers must be >= 0; got {self.num_workers}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ValueError(f"--device must be auto, cpu or cuda[:N]; got {self.device!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
