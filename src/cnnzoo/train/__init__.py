"""Training: one declared configuration, ``setup`` → ``fit``, tasks, checkpoints, evaluation.

    from cnnzoo.train import TrainConfig, train
    result = train(TrainConfig(model="lenet5", data="digits", epochs=30))
    print(result.summary())

Or piece by piece::

    from cnnzoo.train import TrainConfig, setup, fit, default_callbacks
    run = setup(TrainConfig(model="resnet20", data="digits", epochs=3, out="runs/r20"))
    fit(run, default_callbacks(run))
    run.run_dir.close()
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cnnzoo.train.callbacks import Callback, default_callbacks
    from cnnzoo.train.config import TrainConfig
    from cnnzoo.train.fit import fit
    from cnnzoo.train.loop import (
        TrainingDiverged,
        TrainingInterrupted,
        TrainResult,
        final_test,
        train,
    )
    from cnnzoo.train.run import Run
    from cnnzoo.train.setup import setup

# Imported on first use, so that reading a setting (the CLI's --help) loads no metrics, plots or data code.
_HOME = {
    "Callback": "callbacks", "default_callbacks": "callbacks", "TrainConfig": "config", "fit": "fit",
    "TrainingDiverged": "loop", "TrainingInterrupted": "loop", "TrainResult": "loop", "final_test": "loop",
    "train": "loop", "Run": "run", "setup": "setup",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)


class _TrainPackage(types.ModuleType):
    """``cnnzoo.train.setup`` and ``.fit`` stay the functions when their modules load.

    Loading a submodule sets it as an attribute of its package, which would hide
    the function of the same name that ``from cnnzoo.train import setup`` means.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _HOME and isinstance(value, types.ModuleType):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _TrainPackage

__all__ = [
    "Callback", "Run", "TrainConfig", "TrainResult", "TrainingDiverged", "TrainingInterrupted",
    "default_callbacks", "final_test", "fit", "setup", "train",
]  # fmt: skip
