"""The report that :func:`cnnzoo.analyze` returns: plain dataclasses (shapes are ``torch.Size``, a tuple).

Counting conventions (see ``cnnzoo.analysis.macs`` for every rule):

* ``macs``: multiply-accumulates of convolutions, linear layers and every
  matrix product (``mm``, ``bmm``, attention), what the papers call "FLOPs" or
  "multiply-adds". ``flops = 2 * macs``.
* ``other_ops``: everything else, one count per elementary operation (bias
  adds, normalisation, activations, pooling, elementwise adds and products,
  interpolation), listed in its own column so that ``macs`` compares with the
  papers and the rest is still visible.
* ``activation_bytes``: bytes of every layer's output in the forward pass;
  ``training_bytes``: bytes of the tensors autograd keeps for the backward pass
  (each storage once, parameters excluded).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["AnalysisReport", "LayerReport", "ReceptiveField"]


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of one output unit, per spatial dimension (``(h, w)`` for images).

    Attributes:
        size: extent in input pixels (``r``).
        stride: distance in input pixels between neighbouring output units (the "jump" ``j``).
        start: centre of the first output unit's field, in input pixel
            coordinates (pixel ``0`` has centre ``0``; negative values reach into padding).
        spatial: ``False`` once the spatial dimensions have been reduced away
            (global pooling, flatten): ``size`` is then the extent the whole
            tensor sees.
    """

    size: tuple[float, ...]
    stride: tuple[float, ...]
    start: tuple[float, ...]
    spatial: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "size": [_num(v) for v in self.size],
            "stride": [_num(v) for v in self.stride],
            "start": [_num(v) for v in self.start],
        }

    def __str__(self) -> str:
        return "x".join(_fmt(v) for v in self.size)


@dataclass(slots=True)
class LayerReport:
    """One row: a module call, or a function (``add``, ``cat``…) called by a container's ``forward``.

    ``macs``, ``other_ops`` and ``activation_bytes`` include everything
    executed inside the module (for a container: the sum over the layers in
    it; for a leaf: its output); ``params`` are the module's own parameters for
    leaves and all of its parameters for containers.
    """

    name: str
    type: str
    depth: int
    kind: str  # "module" (leaf), "container", or "function"
    input_shapes: list[tuple[int, ...]] = field(default_factory=list)
    output_shapes: list[tuple[int, ...]] = field(default_factory=list)
    params: int = 0
    trainable_params: int = 0
    weights: int = 0
    biases: int = 0
    macs: int = 0
    other_ops: int = 0
    activation_bytes: int = 0
    receptive_field: ReceptiveField | None = None
    kernel: tuple[int, ...] | None = None
    stride: tuple[int, ...] | None = None
    count: int | None = None
    unknown_ops: list[str] = field(default_factory=list)
    fallback_ops: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def output_shape(self) -> tuple[int, ...] | None:
        return self.output_shapes[0] if self.output_shapes else None

    @property
    def input_shape(self) -> tuple[int, ...] | None:
        return self.input_shapes[0] if self.input_shapes else None

    def to_dict(self) -> dict[str, Any]:
        rf = self.receptive_field
        return {
            "name": self.name,
            "type": self.type,
            "kind": self.kind,
            "depth": self.depth,
            "output_shape": list(self.output_shape) if self.output_shape is not None else None,
            "params": self.params,
            "trainable_params": self.trainable_params,
            "weights": self.weights,
            "biases": self.biases,
            "macs": self.macs,
            "other_ops": self.other_ops,
            "activation_bytes": self.activation_bytes,
            "rf_size": [_num(v) for v in rf.size] if rf else None,
            "rf_stride": [_num(v) for v in rf.stride] if rf else None,
            "rf_start": [_num(v) for v in rf.start] if rf else None,
            "kernel": list(self.kernel) if self.kernel else None,
            "stride": list(self.stride) if self.stride else None,
            "unknown_ops": list(self.unknown_ops),
        }


@dataclass
class AnalysisReport:
    """What :func:`cnnzoo.analyze` found; render it with ``cnnzoo.analysis.render``."""

    model: str
    input_size: tuple[int, ...]
    batch_size: int
    layers: list[LayerReport]
    params: int
    trainable_params: int
    macs: int
    other_ops: int
    activation_bytes: int
    training_bytes: int
    receptive_field: ReceptiveField | None
    output_shapes: list[tuple[int, ...]]
    unknown_ops: dict[str, list[str]] = field(default_factory=dict)
    fallback: str | None = None
    warnings: list[str] = field(default_factory=list)
    dtype_bytes: int = 4

    @property
    def flops(self) -> int:
        """``2 * macs``: one multiply and one add per multiply-accumulate."""
        return 2 * self.macs

    @property
    def leaves(self) -> list[LayerReport]:
        """Rows that do work themselves: leaf modules and functions, in execution order."""
        return [r for r in self.layers if r.kind != "container"]

    def layer(self, name: str) -> LayerReport:
        """The first row called ``name`` (``"layer1.0.conv1"``); ``KeyError`` if none."""
        for r in self.layers:
            if r.name == name:
                return r
        raise KeyError(f"no layer named {name!r}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON schema of ``cnnzoo summary --format json`` (``docs/analysis.md``)."""
        return {
            "model": self.model,
            "input": list(self.input_size),
            "batch_size": self.batch_size,
            "params": self.params,
            "trainable_params": self.trainable_params,
            "macs": self.macs,
            "flops": self.flops,
            "other_ops": self.other_ops,
            "activation_bytes": self.activation_bytes,
            "training_bytes": self.training_bytes,
            "receptive_field": self.receptive_field.to_dict() if self.receptive_field else None,
            "output_shapes": [list(s) for s in self.output_shapes],
            "unknown_ops": dict(self.unknown_ops),
            "fallback": self.fallback,
            "warnings": list(self.warnings),
            "layers": [r.to_dict() for r in self.layers],
        }


def _num(v: float) -> float | int:
    return int(v) if float(v).is_integer() else round(float(v), 4)


def _fmt(v: float) -> str:
    return str(_num(v))
