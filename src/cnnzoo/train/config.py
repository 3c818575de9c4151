"""The training configuration, declared once: each setting's name, type, default, help and limits.

``cnnzoo train`` derives its options from these declarations
(:mod:`cnnzoo.cli.options`), ``--config FILE`` loads into the same class
(:meth:`TrainConfig.from_file`), and :meth:`TrainConfig.validate` checks every
setting against its declaration before any data is loaded.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cnnzoo.data.augment import AUGMENTATIONS
from cnnzoo.train.losses import LOSSES
from cnnzoo.train.optim import OPTIMIZERS
from cnnzoo.train.schedules import SCHEDULES

__all__ = ["LOGGERS", "ConfigError", "Setting", "TrainConfig", "setting", "settings"]

LOGGERS = ("csv", "tensorboard")  # metrics.jsonl is always written; these are extra
# A run's config.json also records what the run found out; these keys are
# facts about that run, not settings, so loading a config.json skips them.
RUN_RECORD_KEYS = frozenset({"data_info", "world_size", "macs_per_image"})


class ConfigError(ValueError):
    """A setting that is not accepted. ``field`` names it; the message says what is expected.

    ``mentions``: other settings the message names (cross-field rules), so that
    :meth:`render` can name each the way the reader knows it (the CLI: its flag).
    """

    def __init__(self, field: str, problem: str, *, mentions: Sequence[str] = ()) -> None:
        super().__init__(f"{field} {problem}")
        self.field, self.problem, self.mentions = field, problem, tuple(mentions)

    def render(self, name: Callable[[str], str]) -> str:
        """The message with every setting it names written as ``name(setting)``."""
        text = self.problem
        for other in self.mentions:
            text = re.sub(rf"\b{re.escape(other)}\b", name(other), text)
        return f"{name(self.field)} {text}"


@dataclass(frozen=True)
class Setting:
    """What a field declares besides its type and default; see :func:`setting`."""

    help: str
    min: float | None = None  # inclusive; for a list, each item
    max: float | Callable[[], int] | None = None  # inclusive; a callable is asked when checking
    above: float | None = None  # exclusive lower bound
    below: float | None = None  # exclusive upper bound
    choices: tuple[str, ...] | None = None
    check: Callable[[Any], str | None] | None = None  # further rule: the problem, or None
    flag: tuple[str, ...] = ()  # CLI declarations; default --field-name (--x/--no-x for a bool)
    metavar: str | None = None
    default_text: str | None = None  # what the default means, for --help (when it is None)
    argument: bool = False  # a positional CLI argument, not an option


def setting(default: Any, help: str, **declared: Any) -> Any:
    """A dataclass field declared with its help and limits (see :class:`Setting` for the keywords)."""
    if isinstance(declared.get("flag"), str):
        declared["flag"] = (declared["flag"],)
    meta = {"setting": Setting(help, **declared)}
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _usable_cpus() -> int:
    # The CPUs this process may run on (a container or taskset may allow fewer than exist).
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _device_problem(value: str) -> str | None:
    if re.fullmatch(r"auto|cpu|cuda(:\d+)?", value):
        return None
    return f"must be auto, cpu, cuda or cuda:N; got {value!r}"


def _logger_problem(value: str) -> str | None:
    names = [n.strip() for n in value.split(",") if n.strip()]
    bad = [n for n in names if n not in LOGGERS]
    if bad or not names:
        return f"must be a comma-separated list of {', '.join(LOGGERS)}; got {value!r}"
    if "tensorboard" in names:
        import importlib.util

        if importlib.util.find_spec("tensorboard") is None:
            return "tensorboard needs the optional extra: pip install 'cnnzoo[tensorboard]'"
    return None


def _model_problem(name: str) -> str | None:
    from cnnzoo.registry import get_model_info

    try:
        get_model_info(name)
    except ValueError as e:
        return f"{name!r}: {e}"
    return None


def _data_problem(spec: str) -> str | None:
    from cnnzoo.data.datasets import parse_data_spec

    try:
        parse_data_spec(spec)
    except ValueError as e:
        return f"{spec!r}: {e}"
    return None


def _classes_problem(classes: list[int]) -> str | None:
    if not classes:
        return "must name at least one class; got an empty list"
    if len(set(classes)) != len(classes):
        return f"must not repeat a class; got {classes}"
    return None


MAX_CLASSES = 1_000_000  # ImageNet-21k has 21,841; a million output units is already a 2 GB classifier at 512 features


def _kwargs_problem(kwargs: dict[str, Any]) -> str | None:
    bad = [k for k in kwargs if not (isinstance(k, str) and k.isidentifier())]
    if bad:
        return f"keys must be keyword-argument names; got {bad[0]!r}"
    n = kwargs.get("num_classes")
    if n is not None and not (_is_int(n) and 1 <= n <= MAX_CLASSES):
        return f"num_classes must be an integer from 1 to {MAX_CLASSES}; got {_show(n)}"
    return None


_DATA_HELP = (
    "digits (embedded), digits-seg, digits-det, mnist:DIR, fashion-mnist:DIR, cifar10:DIR, cifar100:DIR, "
    "folder:DIR, csv:FILE, voc-seg:DIR, mask-pairs:DIR, voc:DIR, coco:DIR."
)


@dataclass
class TrainConfig:
    """Everything a training run depends on; saved as ``config.json`` in the run directory.

    Defaults are the recipe of ``cnnzoo train lenet5``: AdamW (peak learning
    rate 5e-3, weight decay 5e-4) with a one-cycle schedule, batches of 32,
    40 epochs and light affine jitter. On the embedded digits it reaches
    99.1–99.8% (three seeds), level with the best tuned support vector
    machine (99.33%; see ``benchmarks/RESULTS.md``).
    """

    model: str = setting("lenet5", "Registered model name (see `cnnzoo list`).", argument=True, metavar="MODEL", check=_model_problem)
    data: str = setting("digits", _DATA_HELP, check=_data_problem)
    epochs: int = setting(40, "Number of epochs.", min=1, max=1_000_000)
    batch_size: int = setting(32, "Mini-batch size (per process under torchrun).", min=1, max=1 << 20)
    optimizer: str = setting("adamw", "Optimizer.", choices=OPTIMIZERS)
    lr: float | None = setting(None, "Base (peak) learning rate.", above=0, default_text="the optimizer's own")
    weight_decay: float = setting(5e-4, "L2 weight decay.", min=0)
    momentum: float = setting(0.9, "Momentum of sgd/nesterov.", min=0, below=1)
    schedule: str = setting("onecycle", "Learning-rate schedule.", choices=SCHEDULES)
    warmup_epochs: float = setting(0.0, "Linear learning-rate warm-up, in epochs.", min=0, max=1_000_000)
    aug: str = setting("auto", "Training augmentation; auto: the data set's own preset (digits for digits), else none.", choices=("auto", *AUGMENTATIONS))
    label_smoothing: float = setting(0.0, "ε of label smoothing (Inception v3 uses 0.1).", min=0, below=1)
    aux_weight: float = setting(0.3, "Weight of auxiliary classifiers' losses (GoogLeNet §5: 0.3).", min=0)
    out: str | None = setting(None, "Run directory.", metavar="DIR", default_text="runs/MODEL-DATA")
    overwrite: bool = setting(False, "Replace an existing run in --out.")
    resume: str | None = setting(None, "Continue the run in this directory from its last checkpoint; its saved recipe decides, only --epochs, --max-steps, --device, --workers and --progress may change.", metavar="RUN_DIR")
    seed: int = setting(0, "Seed for weights, data order and augmentation.", min=0, max=2**32 - 1)
    device: str = setting("auto", "auto, cpu, cuda or cuda:N.", check=_device_problem)
    model_kwargs: dict[str, Any] = setting({}, "Builder keyword argument NAME=VALUE (repeatable), e.g. padding=True.", flag=("--arg", "-a"), metavar="NAME=VALUE", check=_kwargs_problem)
    num_workers: int = setting(0, "DataLoader worker processes (at most the CPUs this machine can use).", min=0, max=_usable_cpus, flag="--workers")
    limit_train: int | None = setting(None, "Use only the first N training samples (quick checks).", min=1, default_text="all")
    progress: bool = setting(True, "Show a progress bar (-q: no progress bar).", flag=("--progress/--quiet", " /-q"))
    # Data: a validation split carved from the training set, a subset of classes, the image side.
    val_split: float = setting(0.0, "Fraction of the training set held out (per class, seeded) for validation.", min=0, below=1)
    classes: list[int] | None = setting(None, "Train on these classes only, e.g. 0,1,2,3,4 (relabelled 0..k-1).", min=0, check=_classes_problem, default_text="all")
    image_size: int | None = setting(None, "folder:/csv: resize the shorter side to this and centre-crop a square; data of a fixed smaller size (digits-seg): the model's input is resized up to this, the labels keep theirs.", min=1, max=16384, default_text="the data set's own; folder:/csv: the model's input size")
    # Loss and regularisation.
    loss: str = setting("auto", "Loss; auto: bce for multi-label data, else cross_entropy.", choices=("auto", *LOSSES))
    l1: float = setting(0.0, "L1 penalty λ·Σ|w| over conv and linear weights.", min=0)
    clip_grad_norm: float | None = setting(None, "Clip the gradient's global L2 norm to this value.", above=0, default_text="no clipping")
    clip_grad_value: float | None = setting(None, "Clamp every gradient element to [-v, v] (before any norm clipping).", above=0, default_text="no clipping")
    patience: int | None = setting(None, "Early stopping: stop after this many epochs without a better validation score.", min=1, default_text="never stop early")
    stop_at: float | None = setting(None, "Stop once the validation (or test) score reaches this fraction.", above=0, max=1, default_text="never")
    plateau_patience: int = setting(2, "--schedule plateau: epochs without improvement before the rate is divided by 10.", min=0, max=1_000_000)
    threshold: float = setting(0.5, "Multi-label: predict a label when its sigmoid exceeds this.", above=0, below=1)
    # Speed.
    precision: str = setting("fp32", "Autocast precision on CUDA (fp32 on CPU).", choices=("fp32", "bf16", "fp16"))
    channels_last: bool | None = setting(None, "NHWC memory layout (channels_last).", default_text="per model: on the CPU where it measured faster (cnnzoo.train.memory_format), else NCHW")
    compile: bool = setting(False, "torch.compile the model.")
    pin_memory: bool = setting(True, "Pinned host memory for batches (CUDA).")
    persistent_workers: bool = setting(True, "Keep DataLoader workers alive between epochs.")
    peak_tflops: float | None = setting(None, "The device's peak TFLOP/s, for model FLOPs utilisation.", above=0, default_text="looked up for known GPUs")
    logger: str = setting("csv", "Extra metric loggers, comma-separated: csv, tensorboard (optional extra); metrics.jsonl is always written.", check=_logger_problem)
    # Checkpoints.
    checkpoint_every: int = setting(0, "Also write checkpoint-last every N optimizer steps (0: once per epoch).", min=0, max=10**12)
    max_steps: int | None = setting(None, "Stop after this many optimizer steps (a checkpoint is written; --resume continues).", min=1, max=10**12, default_text="no limit")
    # Distributed.
    sync_bn: bool = setting(False, "Under torchrun: SyncBatchNorm across processes.")
    # Fine-tuning.
    init: str | None = setting(None, "Fine-tune: start from this checkpoint's weights, all but the output layer.", metavar="CHECKPOINT", default_text="fresh weights")
    freeze: str | None = setting(None, "With --init: 'backbone' trains only the new output layer.", choices=("backbone",), default_text="train everything")
    backbone_lr_mult: float = setting(1.0, "With --init: learning-rate multiplier of the copied layers (e.g. 0.1).", above=0)

    def validate(self) -> None:
        """Check every setting against its declaration, then the rules between settings.

        Raises :class:`ConfigError` naming the first bad setting and what it accepts.
        Nothing is loaded; what ``auto`` resolves to is decided later, with the data.
        """
        hints = _type_hints()
        for f in dataclasses.fields(self):
            _check_field(f.name, getattr(self, f.name), hints[f.name], f.metadata["setting"])
        if self.freeze and not self.init:
            raise ConfigError("freeze", "backbone needs init (the checkpoint whose backbone is kept)", mentions=("init",))
        if self.overwrite and self.resume:
            raise ConfigError("overwrite", "and resume exclude each other: resume continues the run, overwrite replaces it", mentions=("resume",))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], *, source: str | None = None) -> TrainConfig:
        """A configuration from ``values``; an unknown key is a :class:`ConfigError` (naming ``source``).

        The keys a run adds to its ``config.json`` (``data_info``, ``world_size``,
        ``macs_per_image``) are skipped, so a run's own ``config.json`` loads. The
        result is not validated: call :meth:`validate`.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        for key in values:
            if key not in known and key not in RUN_RECORD_KEYS:
                raise ConfigError(str(key), f"{_where(source)}is not a training setting; {_suggest(str(key), known)}")
        return cls(**{k: v for k, v in values.items() if k in known})

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> TrainConfig:
        """A configuration from a YAML (.yaml, .yml), TOML (.toml) or JSON file, e.g. a run's ``config.json``."""
        return cls.from_dict(_read_mapping(Path(path)), source=str(path))


def settings() -> dict[str, tuple[dataclasses.Field, Any, Setting]]:
    """Each setting's field, type and declaration, in declaration order."""
    hints = _type_hints()
    return {f.name: (f, hints[f.name], f.metadata["setting"]) for f in dataclasses.fields(TrainConfig)}


@functools.cache
def _type_hints() -> dict[str, Any]:
    return typing.get_type_hints(TrainConfig)


def _where(source: str | None) -> str:
    return f"(in {source}) " if source else ""


def _suggest(key: str, known: set[str]) -> str:
    import difflib

    close = difflib.get_close_matches(key, sorted(known), n=3, cutoff=0.6)
    return f"did you mean {', '.join(close)}?" if close else f"accepted: {', '.join(sorted(known))}"


# ---------------------------------------------------------------- checking one field


def split_optional(hint: Any) -> tuple[Any, bool]:
    """``int | None`` → ``(int, True)``; ``int`` → ``(int, False)``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(hint))
    return hint, False


def _check_field(name: str, value: Any, hint: Any, s: Setting) -> None:
    base, optional = split_optional(hint)
    if value is None:
        if optional:
            return
        raise ConfigError(name, f"must be {describe(base, s)}; got None")
    if not _has_type(value, base) or not _in_range(value, base, s):
        raise ConfigError(name, f"must be {describe(base, s)}; got {_show(value)}")
    if s.choices is not None and value not in s.choices:
        raise ConfigError(name, f"{_show(value)} is unknown; accepted: {', '.join(s.choices)}")
    problem = s.check(value) if s.check else None
    if problem:
        raise ConfigError(name, problem)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _has_type(value: Any, base: Any) -> bool:
    origin = typing.get_origin(base)
    if origin is list:
        return isinstance(value, (list, tuple)) and all(_is_int(v) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    if base is int:
        return _is_int(value)
    if base is float:
        return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)
    return isinstance(value, base)


def _in_range(value: Any, base: Any, s: Setting) -> bool:
    items = value if typing.get_origin(base) is list else [value]
    if not items or not isinstance(items[0], (int, float)) or isinstance(items[0], bool):
        return True
    top = s.max() if callable(s.max) else s.max
    return all(
        (s.min is None or v >= s.min) and (top is None or v <= top) and (s.above is None or v > s.above) and (s.below is None or v < s.below)
        for v in items
    )


def describe(base: Any, s: Setting) -> str:
    """What a setting accepts, in words: ``an integer from 1 to 1000000``."""
    origin = typing.get_origin(base)
    if origin is list:
        return "a list of integers" + (f" >= {s.min:g}" if s.min is not None else "")
    if origin is dict:
        return "a mapping of keyword arguments"
    if base is bool:
        return "true or false"
    if base is str:
        return "a string"
    noun = "an integer" if base is int else "a finite number"
    top = s.max() if callable(s.max) else s.max
    low = ("[", s.min) if s.min is not None else ("(", s.above) if s.above is not None else None
    high = ("]", top) if top is not None else (")", s.below) if s.below is not None else None
    if low and high:
        if base is int:
            return f"{noun} from {_num(low[1])} to {_num(high[1])}"
        return f"{noun} in {low[0]}{_num(low[1])}, {_num(high[1])}{high[0]}"
    if low:
        return f"{noun} {'>=' if low[0] == '[' else '>'} {_num(low[1])}"
    if high:
        return f"{noun} {'<=' if high[0] == ']' else '<'} {_num(high[1])}"
    return noun


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."



# ---------------------------------------------------------------- reading a file


def _read_mapping(path: Path) -> dict[str, Any]:
    """The top-level mapping of a YAML, TOML or JSON file; a :class:`ConfigError` naming the file if not."""
    readers = {".yaml": _load_yaml, ".yml": _load_yaml, ".toml": _load_toml, ".json": json.loads}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise ConfigError("config", f"{path}: expected a .yaml, .yml, .toml or .json file")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError("config", f"{path}: cannot read it ({e.strerror or e})") from None
    try:
        values = reader(text)
    except ConfigError:
        raise
    except ValueError as e:  # JSON, TOML and YAML (below) parse errors are all ValueErrors here
        raise ConfigError("config", f"{path}: not valid {path.suffix[1:].upper()}: {' '.join(str(e).split())}") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError("config", f"{path}: expected a mapping of setting: value at the top; got {type(values).__name__}")
    return values


def _load_yaml(text: str) -> Any:
    import yaml

    class Loader(yaml.SafeLoader):
        """YAML 1.1 reads ``5e-3`` as a string; like YAML 1.2 (and JSON), read it as a number."""

    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
        list("-+0123456789."),
    )
    try:
        return yaml.load(text, Loader=Loader)
    except yaml.YAMLError as e:
        raise ValueError(str(e)) from None


def _load_toml(text: str) -> Any:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise ConfigError("config", "in TOML needs Python 3.11 or the tomli package") from None
    return tomllib.loads(text)
