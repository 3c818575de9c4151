"""Task plug-ins: what the training loop and the evaluation need to know about a kind of prediction.

``build_task(bundle.task, TaskContext(...))`` returns the plug-in registered
under that name: ``classification``, ``multilabel`` or ``segmentation``. Each
owns its batches, loss, running score, evaluation metrics and report plots
(:mod:`cnnzoo.train.tasks.base` describes the contract).
"""

from cnnzoo.train.tasks import classification, detection, multilabel, segmentation  # noqa: F401  (they register themselves)
from cnnzoo.train.tasks.base import (
    TASKS,
    Meter,
    SumMeter,
    Task,
    TaskContext,
    TaskError,
    build_task,
    main_output,
    register_task,
    split_outputs,
)
from cnnzoo.train.tasks.classification import ClassificationTask
from cnnzoo.train.tasks.multilabel import MultilabelTask
from cnnzoo.train.tasks.segmentation import IGNORE_INDEX, SegmentationTask

__all__ = [
    "IGNORE_INDEX",
    "TASKS",
    "ClassificationTask",
    "Meter",
    "MultilabelTask",
    "SegmentationTask",
    "SumMeter",
    "Task",
    "TaskContext",
    "TaskError",
    "build_task",
    "main_output",
    "register_task",
    "split_outputs",
]
