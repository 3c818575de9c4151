"""CPU inference latency of the deployment paths, side by side in one process.

For each model (ResNet-50 and MobileNet v2 at 224×224, LeNet-5 at 32×32) and
batch size (1 and 32), the median latency of:

  eager            plain PyTorch, eval mode, ``torch.inference_mode``
  fold+cl          BatchNorm folded into the convolutions, channels_last
  compile          ``torch.compile`` (inductor) of the folded model
  onnxruntime      the folded model exported by ``cnnzoo export`` (``export_onnx``), ONNX Runtime CPU
  ort (dynamo)     the same model through ``torch.onnx.export(..., dynamo=True, opset_version=18)``,
                   the same session settings (needs onnxscript; skipped without it)
  int8 (ort)       ONNX Runtime static int8 (QDQ, per-channel), calibrated
  int8 (fx)        PyTorch FX static int8 (x86 backend), calibrated

and the speed-up over eager. Rounds are interleaved: each round calls every
path once, so a change of load on a shared machine hits all paths alike; the
table gives the median over rounds. For LeNet-5 the script also trains a quick model
on the embedded digits and reports each path's test accuracy, so the cost of
int8 in accuracy sits next to its gain in speed.

    python benchmarks/inference.py [--models resnet50 mobilenet_v2 lenet5] [--batches 1 32]
                                   [--repeat 20] [--threads 1] [--no-compile]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

import cnnzoo
from cnnzoo.layers.fold_bn import fold_batchnorm
from cnnzoo.train.export import export_onnx, onnx_session
from cnnzoo.train.quantize import quantize_fx, quantize_onnx

warnings.filterwarnings("ignore")

SIZES = {"resnet50": (3, 224, 224), "mobilenet_v2": (3, 224, 224), "lenet5": (1, 32, 32)}


def interleaved_ms(fns: dict[str, Callable[[], object]], repeat: int, warmup: int = 3) -> dict[str, float]:
    """Median ms per call of each function, over ``repeat`` rounds that call each once."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: 1000 * statistics.median(v) for k, v in times.items()}


def build_paths(name: str, model: torch.nn.Module, input_size, calib: list[torch.Tensor], tmp: Path, compile_: bool):
    """``{path name: callable(x) -> logits}`` for every deployment path."""
    model = model.eval()
    folded = fold_batchnorm(model, torch.randn(2, *input_size))
    folded_cl = folded.to(memory_format=torch.channels_last)
    paths: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "eager": model,
        "fold+cl": lambda x: folded_cl(x.contiguous(memory_format=torch.channels_last)),
    }
    if compile_:
        compiled = torch.compile(folded)
        paths["compile"] = compiled
    onnx_path = export_onnx(folded, tmp / f"{name}.onnx", input_size, dynamic_batch=True)
    sess = onnx_session(onnx_path, threads=torch.get_num_threads())
    paths["onnxruntime"] = lambda x: torch.from_numpy(sess.run(None, {"input": x.numpy()})[0])
    try:
        dyn_path = tmp / f"{name}.dynamo.onnx"
        batch = torch.export.Dim("batch")
        torch.onnx.export(folded, (torch.randn(2, *input_size),), str(dyn_path), input_names=["input"],
                          output_names=["logits"], opset_version=18, dynamo=True, dynamic_shapes=({0: batch},))  # fmt: skip
        dsess = onnx_session(dyn_path, threads=torch.get_num_threads())
        paths["ort (dynamo)"] = lambda x: torch.from_numpy(dsess.run(None, {"input": x.numpy()})[0])
    except ImportError as e:
        print(f"  {name}: no dynamo export ({e})")
    q_path = quantize_onnx(onnx_path, tmp / f"{name}.int8.onnx", calib)
    qsess = onnx_session(q_path, threads=torch.get_num_threads())
    paths["int8 (ort)"] = lambda x: torch.from_numpy(qsess.run(None, {"input": x.numpy()})[0])
    try:
        qfx = quantize_fx(model, calib)
        paths["int8 (fx)"] = qfx
    except ValueError as e:
        print(f"  {name}: no FX int8 ({e})")
    return paths


def digits_model_and_data():
    from cnnzoo.data.digits import load_digits_arrays
    from cnnzoo.train import TrainConfig, train
    from cnnzoo.train.checkpoint import load_checkpoint

    d = tempfile.mkdtemp()
    train(TrainConfig(out=d, progress=False))
    model = cnnzoo.load(d + "/checkpoint-last")
    norm = load_checkpoint(d + "/checkpoint-last").meta.normalize
    a = load_digits_arrays(size=32)
    f = lambda x: (torch.from_numpy(x) - norm.mean[0]) / norm.std[0]  # noqa: E731
    return model, f(a.x_train[:256]), f(a.x_test), torch.from_numpy(a.y_test)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(SIZES))
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 32])
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads, torch and ONNX Runtime (0: torch's default)")
    ap.add_argument("--no-compile", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load {os.getloadavg()}")
    tmp = Path(tempfile.mkdtemp())
    for name in args.models:
        input_size = SIZES[name]
        test = None
        if name == "lenet5":
            model, calib_x, xte, yte = digits_model_and_data()
            calib = list(calib_x.split(32))
            test = (xte, yte)
        else:
            model = cnnzoo.create(name).eval()
            calib = [torch.randn(8, *input_size) for _ in range(4)]
        paths = build_paths(name, model, input_size, calib, tmp, not args.no_compile)
        print(f"\n{name} {input_size}")
        header = "| path | " + " | ".join(f"batch {b} ms | × eager" for b in args.batches)
        header += " | test acc |" if test else " |"
        print(header)
        print("|" + "---|" * (1 + 2 * len(args.batches) + (1 if test else 0)))
        with torch.inference_mode():
            ms = {}
            for b in args.batches:
                x = torch.randn(b, *input_size)
                ms[b] = interleaved_ms({p: (lambda fn=fn, x=x: fn(x)) for p, fn in paths.items()}, args.repeat)
            for pname, fn in paths.items():
                cells = [f"{ms[b][pname]:.2f} | {ms[b]['eager'] / ms[b][pname]:.2f}×" for b in args.batches]
                row = f"| {pname} | " + " | ".join(cells)
                if test:
                    acc = float((fn(test[0]).argmax(1) == test[1]).float().mean())
                    row += f" | {acc:.2%} |"
                else:
                    row += " |"
                print(row, flush=True)
        print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
