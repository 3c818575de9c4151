"""Shared set-up of the training tests.

``formats`` writes small data files in the real on-disk formats
(``tests/data/formats.py``); ``quick`` makes a configuration for a few fast
steps. (One torch thread per process is set for the whole suite in
``tests/conftest.py``.)
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("cnnzoo_test_formats", Path(__file__).parents[1] / "data" / "formats.py")
formats_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(formats_module)


@pytest.fixture
def formats():
    return formats_module


@pytest.fixture
def quick():
    """A TrainConfig factory for a few fast steps of LeNet-5 on a slice of the digits."""
    from cnnzoo.train import TrainConfig

    def make(tmp: Path, **kw) -> TrainConfig:
        base = dict(model="lenet5", data="digits", epochs=2, batch_size=32, limit_train=128, out=str(tmp), progress=False, aug="none")
        return TrainConfig(**(base | kw))

    return make


@pytest.fixture
def unet_run():
    """Writes a tiny U-Net digits-seg checkpoint (``padding`` as given) into a directory; returns the model.

    ``prepare(model)``, if given, sets weights before the checkpoint is written.
    """
    import torch

    import cnnzoo
    from cnnzoo.train.checkpoint import save_checkpoint
    from cnnzoo.train.meta import CheckpointMeta, Normalization

    def make(run_dir: Path, padding: bool, prepare=None):
        kwargs = {"num_classes": 11, "in_chans": 1, "padding": padding, "base_width": 2}
        meta = CheckpointMeta(
            model="unet", model_kwargs=kwargs, task="segmentation", data="digits-seg", data_name="digits-seg",
            num_classes=11, class_names=["background"] + [str(d) for d in range(10)], in_chans=1,
            normalize=Normalization(mean=[0.1], std=[0.3], size=[64, 64]),
        )  # fmt: skip
        model = cnnzoo.create("unet", **kwargs)
        if prepare is not None:
            with torch.no_grad():
                prepare(model)
        save_checkpoint(run_dir / "checkpoint-last", model, meta)
        return model

    return make
