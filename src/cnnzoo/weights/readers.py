"""Reading a checkpoint file into a plain state dict, and what its name says about it.

Formats: a ``.pth``/``.pt`` state dict (read with ``torch.load(weights_only=True)``:
no code in the file runs), a ``.safetensors`` file, and a timm Hugging Face cache
folder (``config.json`` + ``model.safetensors``; the architecture and
preprocessing come from the config). torchvision's own file names
(``resnet50-0676ba61.pth``) name their architecture. Keras ``.h5`` files are
read by :mod:`cnnzoo.weights.keras`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from cnnzoo.weights.errors import WeightsError

__all__ = ["Checkpoint", "read_checkpoint", "torchvision_arch"]

# torchvision's download names whose stem is not the architecture's name
_TV_ALIASES = {"shufflenetv2_x1": "shufflenet_v2_x1_0", "shufflenetv2_x0.5": "shufflenet_v2_x0_5",
               "inception_v3_google": "inception_v3", "alexnet-owt": "alexnet"}  # fmt: skip


@dataclass
class Checkpoint:
    """Tensors read from ``path``; ``arch``/``source`` when the file or folder names them."""

    path: Path
    tensors: dict[str, torch.Tensor]
    source: str | None = None
    arch: str | None = None
    config: dict[str, Any] = field(default_factory=dict)  # timm's pretrained_cfg, if any


def torchvision_arch(filename: str) -> str | None:
    """``resnet50-0676ba61.pth`` → ``resnet50``; ``efficientnet_b0_rwightman-7f5810bc.pth`` → ``efficientnet_b0``."""
    m = re.fullmatch(r"(.+)-([0-9a-f]{8,10})\.pth", filename)
    if not m:
        return None
    stem = m.group(1)
    if stem in _TV_ALIASES:
        return _TV_ALIASES[stem]
    return re.sub(r"_(rwightman|lukemelas)$", "", stem)


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0][:120]}" if text else type(e).__name__


def _unwrap(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    # Training scripts often save {"state_dict": ...} or {"model": ...} around the weights.
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path}: expected a state dict (a mapping of names to tensors); got {type(obj).__name__}")
    # DataParallel checkpoints prefix every name with "module."
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    return dict(obj)


def _load_torch(path: Path) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle errors come in many types; all mean the same to the user
        raise WeightsError(f"{path}: not a readable PyTorch state dict ({_first_line(e)})") from None
    return _unwrap(obj, path)


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as e:
        raise WeightsError(f"{path}: not a readable safetensors file ({_first_line(e)})") from None


def _read_folder(path: Path) -> Checkpoint:
    cfg_path, weights = path / "config.json", path / "model.safetensors"
    if not weights.exists():
        weights = path / "pytorch_model.bin"
    if not cfg_path.exists() or not weights.exists():
        raise WeightsError(f"{path}: expected a timm model folder with config.json and model.safetensors")
    try:
        config = json.loads(cfg_path.read_text())
    except (OSError, ValueError) as e:
        raise WeightsError(f"{cfg_path}: not readable JSON ({e})") from None
    arch = config.get("architecture") if isinstance(config, dict) else None
    if not isinstance(arch, str):
        raise WeightsError(f"{cfg_path}: field architecture is missing; expected a timm model name such as 'resnet50'")
    tensors = _load_safetensors(weights) if weights.suffix == ".safetensors" else _load_torch(weights)
    cfg = config.get("pretrained_cfg") if isinstance(config.get("pretrained_cfg"), dict) else {}
    return Checkpoint(path, tensors, source="timm", arch=arch, config=cfg)


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Read ``path`` (file or timm folder); a one-line :class:`WeightsError` if it cannot be."""
    p = Path(path).expanduser()
    if p.is_dir():
        return _read_folder(p)
    if not p.is_file():
        raise WeightsError(f"{p}: no such file or folder")
    suffix = p.suffix.lower()
    if suffix == ".safetensors":
        return Checkpoint(p, _load_safetensors(p))
    if suffix in (".pth", ".pt", ".bin"):
        arch = torchvision_arch(p.name)
        return Checkpoint(p, _load_torch(p), source="torchvision" if arch else None, arch=arch)
    raise WeightsError(f"{p}: unknown weight format {suffix or '(no suffix)'}; expected .pth, .pt, .safetensors, .h5 or a timm folder")
