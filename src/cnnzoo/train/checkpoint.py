"""Checkpoints: one safetensors file that is never half-written, plus a JSON sidecar.

A checkpoint ``STEM`` is ``STEM.safetensors`` and ``STEM.json``:

* ``STEM.safetensors`` holds the model weights (``model.*``), every tensor of
  the optimizer and scaler state (``optim.*``) and the torch RNG state, and in
  its header metadata the whole sidecar as JSON. It is the source of truth.
* ``STEM.json`` is the same metadata, pretty-printed for people and tools:
  model name and keyword arguments, epoch, step, metrics, optimizer and
  schedule state, RNG states of Python and NumPy, the data normalisation.

Both are written to a temporary file in the same directory, flushed, fsynced
and renamed over the old one, so a crash (even SIGKILL) at any instant leaves
the previous checkpoint whole. Nothing is pickled; safetensors cannot carry code.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save as st_save
from torch import nn

__all__ = [
    "CheckpointError",
    "atomic_write_bytes",
    "checkpoint_paths",
    "load_checkpoint",
    "load_model",
    "resolve_checkpoint",
    "save_checkpoint",
]

FORMAT = "cnnzoo-checkpoint/1"


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt or does not fit the model asked for."""


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    # The rename itself is durable only once the directory entry is on disk.
    with contextlib.suppress(OSError):
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def checkpoint_paths(stem: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``(STEM.safetensors, STEM.json)`` for a stem given with or without a suffix."""
    p = Path(stem)
    if p.suffix in (".safetensors", ".json"):
        p = p.with_suffix("")
    return p.with_name(p.name + ".safetensors"), p.with_name(p.name + ".json")


def resolve_checkpoint(path: str | os.PathLike[str]) -> Path:
    """A checkpoint stem from a run directory (its best, else last), a stem, or a file."""
    p = Path(path)
    if p.is_dir():
        for name in ("checkpoint-best", "checkpoint-last"):
            if checkpoint_paths(p / name)[0].exists():
                return p / name
        raise CheckpointError(f"{p} holds no checkpoint-best.safetensors or checkpoint-last.safetensors")
    weights, _ = checkpoint_paths(p)
    if not weights.exists():
        raise CheckpointError(f"no checkpoint at {weights} (expected a run directory or STEM[.safetensors])")
    return weights.with_suffix("")


def _split_state(prefix: str, obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Replace every tensor inside ``obj`` by a reference and collect it in ``tensors``."""
    if isinstance(obj, torch.Tensor):
        key = f"{prefix}"
        tensors[key] = obj.detach().cpu().contiguous()
        return {"__tensor__": key}
    if isinstance(obj, dict):
        return {str(k): _split_state(f"{prefix}.{k}", v, tensors) for k, v in obj.items()} | (
            {"__int_keys__": True} if obj and all(isinstance(k, int) for k in obj) else {}
        )
    if isinstance(obj, (list, tuple)):
        return [_split_state(f"{prefix}.{i}", v, tensors) for i, v in enumerate(obj)]
    if isinstance(obj, float) and (obj != obj or obj in (float("inf"), float("-inf"))):
        return {"__float__": repr(obj)}
    return obj


def _join_state(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__float__" in obj:
            return float(obj["__float__"])
        int_keys = obj.get("__int_keys__", False)
        return {
            (int(k) if int_keys else k): _join_state(v, tensors)
            for k, v in obj.items()
            if k != "__int_keys__"
        }
    if isinstance(obj, list):
        return [_join_state(v, tensors) for v in obj]
    return obj


def save_checkpoint(
    stem: str | os.PathLike[str],
    model: nn.Module,
    meta: dict[str, Any],
    states: dict[str, Any] | None = None,
) -> Path:
    """Save ``model`` weights, ``states`` (optimizer, scheduler, RNG…; tensors allowed) and ``meta``.

    ``meta`` must be JSON-serialisable (model name and kwargs, epoch, metrics…).
    Returns the path of the ``.safetensors`` file.
    """
    weights_path, json_path = checkpoint_paths(stem)
    module = model.module if hasattr(model, "module") else model  # unwrap DDP
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    state_tree = _split_state("state", states or {}, tensors)
    header = {"format": FORMAT, **meta, "states": state_tree}
    data = st_save(tensors, metadata={"cnnzoo": json.dumps(header)})
    header_for_people = {k: v for k, v in header.items() if k != "states"}
    header_for_people["weights_sha256"] = hashlib.sha256(data).hexdigest()
    atomic_write_bytes(weights_path, data)
    atomic_write_bytes(json_path, (json.dumps(header_for_people, indent=2) + "\n").encode())
    return weights_path


def load_checkpoint(stem: str | os.PathLike[str], device: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint: ``{"meta": dict, "model": state_dict, "states": dict}``."""
    weights_path, _ = checkpoint_paths(resolve_checkpoint(stem))
    try:
        with safe_open(str(weights_path), framework="pt", device=str(device)) as f:
            header = json.loads((f.metadata() or {}).get("cnnzoo", "null"))
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    except CheckpointError:
        raise
    except Exception as e:  # safetensors raises its own error types for corrupt files
        raise CheckpointError(f"{weights_path} is not a readable safetensors checkpoint ({e})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CheckpointError(f"{weights_path} is a safetensors file but not a cnnzoo checkpoint ({FORMAT})")
    model_sd = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    states = _join_state(header.pop("states", {}), tensors)
    return {"meta": header, "model": model_sd, "states": states}


def load_model(checkpoint: str | os.PathLike[str], device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the model of a checkpoint from its sidecar and load its weights, in eval mode."""
    from cnnzoo.registry import create

    ckpt = load_checkpoint(checkpoint, device)
    spec = ckpt["meta"].get("model")
    if not spec:
        raise CheckpointError(f"{checkpoint}: the checkpoint does not record which model it holds")
    model = create(spec["name"], **spec.get("kwargs", {}))
    model.load_state_dict(ckpt["model"])
    model.cnnzoo_checkpoint_meta = ckpt["meta"]  # type: ignore[assignment]
    return model.to(device).eval()
