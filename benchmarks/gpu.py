"""GPU training speed: ResNet-50 in bf16 and channels_last, cnnzoo's step against a plain loop; one JSON file.

On a CUDA machine this measures, for ResNet-50 (He et al. 2015, arXiv:1512.03385,
table 1; built as ``resnet50(stride_on_3x3=True)``, the "v1.5" that torchvision
and NVIDIA train, 4.1 GMACs at 224×224):

* training images/s of cnnzoo's own step (:func:`cnnzoo.train.fit.train_step` on
  the :class:`~cnnzoo.train.run.Run` that ``cnnzoo train`` builds, with
  ``--precision bf16 --channels-last``), eager and with ``--compile``;
* the same for the loop as torchvision's reference scripts write it
  (``references/classification/train.py``: autocast, ``loss.backward()``,
  SGD with momentum), same model, batch, layout and precision;
* each side's model FLOPs utilisation: images/s × 3 × 2 × MACs (backward
  about twice the forward) over the GPU's dense bf16 peak (``cnnzoo.train.setup.PEAK_TFLOPS``, the table
  ``cnnzoo train`` reports MFU by);
* the wall time of ``cnnzoo train resnet20`` on the embedded digits
  (8×8 upscaled to 32×32), end to end;

and writes them, with NVIDIA's published reference (:data:`REFERENCE`), to one
JSON file. ``--dry-run`` runs every code path on the CPU at toy sizes in
seconds (what the test suite does); its numbers mean nothing.

    python benchmarks/gpu.py [--out gpu.json] [--batch 256] [--steps 50] [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

import cnnzoo
from cnnzoo.train.setup import PEAK_TFLOPS

# NVIDIA DeepLearningExamples, PyTorch ResNet-50 v1.5, training performance, AMP, 1× A100 80GB.
REFERENCE = {"source": "NVIDIA DeepLearningExamples, PyTorch/Classification/ConvNets/resnet50v1.5 (AMP, 1x A100)",
             "images_per_s": 2470.0}  # fmt: skip


def peak_tflops(device: torch.device) -> float | None:
    """The dense bf16 peak of ``device``, if its name is in :data:`PEAK_TFLOPS`."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_TFLOPS.items() if k in name), None)


def images_per_s(step: Callable[[], Any], batch: int, steps: int, warmup: int, device: torch.device) -> float:
    """Median images/s of ``step`` over ``steps`` timed calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        step()
    _sync(device)
    rates = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        _sync(device)
        rates.append(batch / (time.perf_counter() - start))
    return statistics.median(rates)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_step(device: torch.device, batch: int, size: int, compile_backend: str | None) -> Callable[[], None]:
    """One training step the torchvision way: bf16 autocast, channels_last, SGD with momentum."""
    model = cnnzoo.create("resnet50", stride_on_3x3=True).to(device, memory_format=torch.channels_last)
    if compile_backend is not None:
        model = _compile(model, compile_backend)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (batch,), device=device)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def cnnzoo_step(device: torch.device, batch: int, size: int, compile_backend: str | None, work: Path) -> Callable[[], None]:
    """One step of ``cnnzoo train resnet50 --precision bf16 --channels-last [--compile]``: its own ``train_step``."""
    from cnnzoo.train import TrainConfig
    from cnnzoo.train.fit import train_step
    from cnnzoo.train.setup import setup

    data = _image_folder(work / f"images-{size}", size)
    cfg = TrainConfig(
        model="resnet50", data=f"folder:{data}", image_size=size, batch_size=batch, optimizer="sgd", lr=0.1, schedule="constant",
        aug="none", precision="bf16", channels_last=True, device=device.type, out=str(work / f"run-{compile_backend}"),
        overwrite=True, progress=False, model_kwargs={"stride_on_3x3": True},
    )  # fmt: skip
    run = setup(cfg)
    if compile_backend is not None:
        run.model = _compile(run.module, compile_backend)
    run.model.train()
    x = torch.rand(batch, 3, size, size, device=device)
    y = torch.randint(0, run.data.num_classes, (batch,), device=device)
    return lambda: train_step(run, x, y)


def _compile(model: torch.nn.Module, backend: str) -> torch.nn.Module:
    """``torch.compile(model)``; the empty backend (``--dry-run``) returns ``model`` as it is."""
    return torch.compile(model, backend=backend) if backend else model


def _image_folder(root: Path, size: int, per_class: int = 2) -> Path:
    """A two-class ImageFolder of noise PNGs: ``setup`` needs data, the timed steps use their own batch."""
    from PIL import Image

    gen = torch.Generator().manual_seed(0)
    for split in ("train", "test"):
        for c in ("a", "b"):
            d = root / split / c
            d.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                pixels = (torch.rand(size, size, 3, generator=gen) * 255).byte().numpy()
                Image.fromarray(pixels).save(d / f"{i}.png")
    return root


def resnet20_digits(device: torch.device, epochs: int, work: Path, limit: int | None = None) -> dict[str, Any]:
    """Wall seconds of ``cnnzoo train resnet20`` on the digits (32×32), end to end, and its test accuracy."""
    from cnnzoo.train import TrainConfig, train

    start = time.perf_counter()
    result = train(TrainConfig(model="resnet20", data="digits", epochs=epochs, device=device.type, out=str(work / "resnet20"),
                               overwrite=True, progress=False, limit_train=limit))  # fmt: skip
    return {"epochs": epochs, "seconds": time.perf_counter() - start, "test_acc": result.final.get("test_acc")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="gpu.json")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--resnet20-epochs", type=int, default=40)
    ap.add_argument("--dry-run", action="store_true", help="every code path on the CPU at toy sizes; the numbers mean nothing")
    args = ap.parse_args()
    if args.dry_run:
        # torch.compile is left out: dynamo alone traces ResNet-50 for minutes on a shared CPU.
        device, backend = torch.device("cpu"), None
        args.batch, args.size, args.steps, args.warmup, args.resnet20_epochs = 2, 32, 1, 1, 1
    elif not torch.cuda.is_available():
        raise SystemExit("benchmarks/gpu.py needs a CUDA device; --dry-run checks it on the CPU")
    else:
        device, backend = torch.device("cuda"), "inductor"
        torch.backends.cudnn.benchmark = True
    macs = cnnzoo.analyze(cnnzoo.create("resnet50", stride_on_3x3=True), input_size=(3, args.size, args.size)).macs
    peak = peak_tflops(device)
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__, "dry_run": args.dry_run, "batch": args.batch, "image_size": args.size,
        "resnet50_macs": macs, "peak_tflops": peak, "reference": REFERENCE, "resnet50_bf16_channels_last": {},
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for mode, compile_backend in (("eager", None), ("compiled", backend or "")):
            for side, build in (("cnnzoo", lambda c: cnnzoo_step(device, args.batch, args.size, c, work)),
                                ("plain", lambda c: plain_step(device, args.batch, args.size, c))):  # fmt: skip
                rate = images_per_s(build(compile_backend), args.batch, args.steps, args.warmup, device)
                tflops = rate * 6 * macs / 1e12
                report["resnet50_bf16_channels_last"][f"{side}_{mode}"] = {
                    "images_per_s": rate, "tflops": tflops, "mfu": tflops / peak if peak else None,
                    "vs_reference": rate / REFERENCE["images_per_s"],
                }  # fmt: skip
                print(f"resnet50 {side:6s} {mode:8s} {rate:9.1f} img/s", flush=True)
        report["resnet20_digits"] = resnet20_digits(device, args.resnet20_epochs, work, limit=64 if args.dry_run else None)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
