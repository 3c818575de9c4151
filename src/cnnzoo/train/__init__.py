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

from cnnzoo.train.callbacks import Callback, default_callbacks
from cnnzoo.train.config import TrainConfig
from cnnzoo.train.fit import fit
from cnnzoo.train.loop import TrainingDiverged, TrainingInterrupted, TrainResult, final_test, train
from cnnzoo.train.run import Run
from cnnzoo.train.setup import setup

__all__ = [
    "Callback", "Run", "TrainConfig", "TrainResult", "TrainingDiverged", "TrainingInterrupted",
    "default_callbacks", "final_test", "fit", "setup", "train",
]  # fmt: skip
