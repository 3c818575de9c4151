"""``cnnzoo train``: train a registered model on a data set, with checkpoints and curves.

The options are not written here: each is a setting of
:class:`~cnnzoo.train.config.TrainConfig`, turned into an option by
:mod:`cnnzoo.cli.options`. The one option of its own is ``--config FILE``.
"""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Any

import typer

from cnnzoo.cli.app import app, console, err_console, fail
from cnnzoo.cli.options import config_error_line, given_on_command_line, signature
from cnnzoo.train.config import ConfigError, TrainConfig, settings

_CONFIG_HELP = "Read settings from a YAML, TOML or JSON file (a run's config.json too); options given here override it."


def train_command(ctx: typer.Context, config: Path | None = None, **values: Any) -> None:
    """Train MODEL on --data; write checkpoints, metrics and curves to --out; print the test accuracy.

    Under `torchrun --nproc_per_node=N -m cnnzoo train …` it trains with DistributedDataParallel.
    """
    declared = settings()
    try:
        cfg = build_config(ctx, config, values)
        cfg.validate()
    except ConfigError as e:
        fail(config_error_line(e, declared))
    _run(cfg)


def build_config(ctx: typer.Context, config_file: Path | None, values: dict[str, Any]) -> TrainConfig:
    """The file's settings (or the defaults), then the options typed on the command line over them."""
    base = TrainConfig.from_file(config_file) if config_file is not None else TrainConfig()
    return dataclasses.replace(base, **given_on_command_line(ctx, values, settings()))


def _run(cfg: TrainConfig) -> None:
    from cnnzoo.train import TrainingInterrupted, train

    try:
        result = train(cfg)
    except ConfigError as e:
        fail(config_error_line(e, settings()))
    except ValueError as e:
        # DataError, CheckpointError, TrainingDiverged, …: the library's errors are the user's to fix.
        fail(str(e))
    except (TrainingInterrupted, KeyboardInterrupt) as e:
        # A KeyboardInterrupt is a Ctrl-C before the loop took the signal over: nothing to resume yet.
        err_console.print(str(e) or "interrupted", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(code=130) from None  # the shell's code for a SIGINT
    if result.is_main:  # under torchrun the other processes have nothing to add
        console.print(result.summary(), markup=False, highlight=False, soft_wrap=True)


_ctx = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)
_config = inspect.Parameter(
    "config", inspect.Parameter.KEYWORD_ONLY, annotation=Path, default=typer.Option(None, "--config", help=_CONFIG_HELP, metavar="FILE", show_default="none")
)
train_command.__signature__ = signature(settings(), [_ctx, _config])  # type: ignore[attr-defined]
app.command("train")(train_command)
