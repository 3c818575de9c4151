"""Training: a configuration dataclass, the loop, checkpoints, metrics, optimizers, schedules.

    from cnnzoo.train import TrainConfig, train
    result = train(TrainConfig(model="lenet5", data="digits", epochs=30))
    print(result.final["test_acc"])
"""

from cnnzoo.train.config import TrainConfig
from cnnzoo.train.loop import TrainingDiverged, TrainResult, evaluate, train

__all__ = ["TrainConfig", "TrainResult", "TrainingDiverged", "evaluate", "train"]
