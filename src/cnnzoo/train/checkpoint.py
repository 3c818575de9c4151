"""Checkpoints: one safetensors file that is never half-written, plus a JSON sidecar.

A checkpoint ``STEM`` is ``STEM.safetensors`` and ``STEM.json``:

* ``STEM.safetensors`` holds the model weights (``model.*``), every tensor of
  the optimizer and scaler state (``state.*``) and, in its header, the
  :class:`~cnnzoo.train.meta.CheckpointMeta` and the rest of the states as
  JSON. It is the source of truth: loaders read nothing else.
* ``STEM.json`` is the header for people and tools, with the ``weights_sha256``
  of the file it describes. It is moved aside before new weights are written
  and written after them, so it is either absent or agrees with the weights; a
  crash in between leaves it absent, and :func:`repair_sidecars` (run whenever
  a run directory is opened) rebuilds it from the weights.

This is the one module that writes checkpoints, for the torch and the NumPy
engine alike. Only finite weights are written. Each file goes to a temporary
file in the same directory, is fsynced and renamed over the old one, so a crash
(even SIGKILL) or a full disk at any instant leaves the previous checkpoint
whole. Nothing is pickled; safetensors cannot carry code.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save as st_save
from torch import nn

from cnnzoo.train.meta import FORMAT, LEGACY_FORMAT, CheckpointError, CheckpointMeta

__all__ = [
    "FORMAT",
    "Checkpoint",
    "CheckpointError",
    "CheckpointWriteError",
    "NonFiniteCheckpointError",
    "atomic_write_bytes",
    "checkpoint_paths",
    "load_checkpoint",
    "load_model",
    "load_model_and_meta",
    "repair_sidecars",
    "resolve_checkpoint",
    "save_checkpoint",
    "save_tensors_checkpoint",
]


class NonFiniteCheckpointError(CheckpointError):
    """The model holds NaN or infinite values; nothing was written."""


class CheckpointWriteError(CheckpointError):
    """The operating system refused a write (disk full, read-only, permissions)."""


@dataclass
class Checkpoint:
    """A checkpoint read from disk: its header, the model's state dict and the other states."""

    meta: CheckpointMeta
    model: dict[str, torch.Tensor]
    states: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None  # the stem it was read from


def _umask() -> int:
    # /proc reads it without changing it; os.umask() must set it to read it, which races with threads.
    with contextlib.suppress(OSError, ValueError, StopIteration), open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith("Umask:")).split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part.

    The file gets the mode ``open()`` would give it (0o666 less the umask). An
    ``OSError`` (disk full…) leaves the old file as it was and no temporary file.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
            os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600
        finally:
            os.close(fd)
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
        tensors[prefix] = obj.detach().cpu().contiguous()
        return {"__tensor__": prefix}
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
        return {(int(k) if int_keys else k): _join_state(v, tensors) for k, v in obj.items() if k != "__int_keys__"}
    if isinstance(obj, list):
        return [_join_state(v, tensors) for v in obj]
    return obj


def _check_finite(tensors: dict[str, torch.Tensor], path: Path) -> None:
    bad = {}
    for name, t in tensors.items():
        if (t.is_floating_point() or t.is_complex()) and not bool(torch.isfinite(t).all()):
            bad[name] = (int((~torch.isfinite(t)).sum()), t.numel())
    if bad:
        shown = [f"{k} ({n} of {total} values)" for k, (n, total) in list(bad.items())[:3]]
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise NonFiniteCheckpointError(
            f"refusing to write {path}: {len(bad)} of {len(tensors)} model tensors hold NaN or infinite values: "
            f"{', '.join(shown)}{more}; nothing was written"
        )


def _sidecar_bytes(header: dict[str, Any], weights_sha256: str) -> bytes:
    people = {k: v for k, v in header.items() if k != "states"} | {"weights_sha256": weights_sha256}
    return (json.dumps(people, indent=2) + "\n").encode()


def _intact(weights_path: Path, existed: bool) -> str:
    """Which checkpoints a failed write left whole (every one on disk: they are renamed into place)."""
    names = sorted(p.name for p in weights_path.parent.glob("*.safetensors"))
    if not names:
        return "no checkpoint is on disk yet"
    listed = [f"{n} (its previous version)" if n == weights_path.name and existed else n for n in names]
    return "still intact on disk: " + ", ".join(listed)


def _write_error(path: Path, e: OSError, intact: str) -> CheckpointWriteError:
    return CheckpointWriteError(f"cannot write checkpoint {path}: {e.strerror or e}; {intact}")


def save_tensors_checkpoint(
    stem: str | os.PathLike[str],
    tensors: dict[str, torch.Tensor],
    meta: CheckpointMeta,
    states: dict[str, Any] | None = None,
) -> Path:
    """Write a model state dict ``tensors`` with its header ``meta`` and ``states`` (optimizer, RNG…).

    Raises :class:`NonFiniteCheckpointError` (nothing written) if a tensor holds
    NaN or inf, and :class:`CheckpointWriteError` if the disk refuses the write.
    Returns the path of the ``.safetensors`` file.
    """
    weights_path, json_path = checkpoint_paths(stem)
    meta.validate(weights_path)
    model_tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    _check_finite(model_tensors, weights_path)
    all_tensors = {f"model.{k}": v for k, v in model_tensors.items()}
    header = {"format": FORMAT, **meta.to_dict(), "states": _split_state("state", states or {}, all_tensors)}
    data = st_save(all_tensors, metadata={"cnnzoo": json.dumps(header)})
    existed = weights_path.exists()
    # The old sidecar steps aside (a rename needs no disk space) while the weights change under it;
    # its name is that of an orphaned temporary file, which opening the run directory removes.
    aside = json_path.with_name(f".{json_path.name}.{os.getpid()}.tmp")
    try:
        if json_path.exists():
            os.replace(json_path, aside)
        atomic_write_bytes(weights_path, data)
    except OSError as e:
        if aside.exists():
            with contextlib.suppress(OSError):
                os.replace(aside, json_path)
        raise _write_error(weights_path, e, _intact(weights_path, existed)) from None
    aside.unlink(missing_ok=True)
    try:
        atomic_write_bytes(json_path, _sidecar_bytes(header, hashlib.sha256(data).hexdigest()))
    except OSError as e:
        note = f"{weights_path.name} is new and whole; its sidecar is rebuilt from it when the run directory is next opened"
        raise _write_error(json_path, e, note) from None
    return weights_path


def save_checkpoint(
    stem: str | os.PathLike[str],
    model: nn.Module,
    meta: CheckpointMeta,
    states: dict[str, Any] | None = None,
) -> Path:
    """Write ``model``'s parameters and buffers, ``meta`` and ``states``; see :func:`save_tensors_checkpoint`."""
    module = model.module if hasattr(model, "module") else model  # unwrap DDP
    return save_tensors_checkpoint(stem, module.state_dict(), meta, states)


def _read_header(weights_path: Path, with_tensors: bool) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    try:
        with safe_open(str(weights_path), framework="pt", device="cpu") as f:
            raw = (f.metadata() or {}).get("cnnzoo")
            tensors = {k: f.get_tensor(k) for k in f.keys()} if with_tensors else {}  # noqa: SIM118
    except Exception as e:  # safetensors raises its own error types for corrupt files
        raise CheckpointError(f"{weights_path} is not a readable safetensors checkpoint ({e})") from None
    try:
        header = json.loads(raw) if raw is not None else None
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{weights_path}: the cnnzoo header is not valid JSON ({e})") from None
    if not isinstance(header, dict) or header.get("format") not in (FORMAT, LEGACY_FORMAT):
        raise CheckpointError(f"{weights_path} is a safetensors file but not a cnnzoo checkpoint (no {FORMAT!r} header)")
    return header, tensors


def load_checkpoint(stem: str | os.PathLike[str]) -> Checkpoint:
    """Read a checkpoint (a run directory, a stem or a file) from its weights file alone."""
    resolved = resolve_checkpoint(stem)
    weights_path, _ = checkpoint_paths(resolved)
    header, tensors = _read_header(weights_path, with_tensors=True)
    state_tree = header.pop("states", {})
    meta = CheckpointMeta.from_dict(header, weights_path)
    model_sd = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        states = _join_state(state_tree, tensors)
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{weights_path}: the saved training states are damaged ({e!r})") from None
    return Checkpoint(meta=meta, model=model_sd, states=states, path=resolved)


def load_model_and_meta(checkpoint: str | os.PathLike[str], device: str | torch.device = "cpu") -> tuple[nn.Module, CheckpointMeta]:
    """Rebuild a checkpoint's model from its header, load the weights; ``(model in eval mode, meta)``."""
    from cnnzoo.registry import create

    ckpt = load_checkpoint(checkpoint)
    meta, where = ckpt.meta, checkpoint_paths(ckpt.path)[0]
    try:
        model = create(meta.model, **meta.model_kwargs)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{where}: cannot build {meta.model} with {meta.model_kwargs}: {e}") from None
    try:
        model.load_state_dict(ckpt.model)
    except RuntimeError as e:
        detail = " ".join(str(e).split())
        raise CheckpointError(f"{where}: the weights do not fit {meta.model}: {detail[:300]}") from None
    return model.to(device).eval(), meta


def load_model(checkpoint: str | os.PathLike[str], device: str | torch.device = "cpu") -> nn.Module:
    """The model of a checkpoint, weights loaded, in eval mode (``cnnzoo.load``)."""
    return load_model_and_meta(checkpoint, device)[0]


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def repair_sidecars(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Rebuild every sidecar in ``run_dir`` that is missing or differs from its weights' header; returns those rebuilt.

    Weights that are not a readable cnnzoo checkpoint are left alone (loading them says why).
    """
    repaired = []
    for weights_path in sorted(Path(run_dir).glob("*.safetensors")):
        json_path = checkpoint_paths(weights_path)[1]
        try:
            header, _ = _read_header(weights_path, with_tensors=False)
        except CheckpointError:
            continue
        expected = _sidecar_bytes(header, _file_sha256(weights_path))
        if _read_or_none(json_path) != expected:
            atomic_write_bytes(json_path, expected)
            repaired.append(json_path)
    return repaired
