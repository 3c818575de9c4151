"""CPU inference latency of the deployment paths, side by side in one process.

For each model (ResNet-50 and MobileNet v2 at 224×224, LeNet-5 at 32×32) and
batch size (1 and 32), the median latency of:

  eager            plain PyTorch, eval mode, ``torch.inference_mode``
  fold+cl          BatchNorm folded into the convolutions, channels_last
  compile          ``torch.compile`` (inductor) of the folded model
  onnxruntime      the folded model exported to ONNX, ONNX Runtime CPU
  int8 (ort)       ONNX Runtime static int8 (QDQ, per-channel), calibrated
  int8 (fx)        PyTorch FX static int8 (x86 backend), calibrated

and the speed-up over eager. For LeNet-5 the script also trains a quick model
on the embedded digits and reports each path's test accuracy, so the cost of
int8 in accuracy sits next to its gain in speed.

    python benchmarks/inference.py [--models resnet50 mobilenet_v2 lenet5] [--batches 1 32]
                                   [--repeat 20] [--no-compile]
"""

from __future__ import annotations

import argparse
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


def median_ms(fn: Callable[[], object], repeat: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


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
    ap.add_argument("--no-compile", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
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
        base: dict[int, float] = {}
        with torch.inference_mode():
            for pname, fn in paths.items():
                cells = []
                for b in args.batches:
                    x = torch.randn(b, *input_size)
                    ms = median_ms(lambda fn=fn, x=x: fn(x), args.repeat)
                    base.setdefault(b, ms)
                    cells.append(f"{ms:.2f} | {base[b] / ms:.2f}×")
                row = f"| {pname} | " + " | ".join(cells)
                if test:
                    acc = float((fn(test[0]).argmax(1) == test[1]).float().mean())
                    row += f" | {acc:.2%} |"
                else:
                    row += " |"
                print(row, flush=True)


if __name__ == "__main__":
    main()
