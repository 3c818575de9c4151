"""How fast and how exact is ``cnnzoo.analyze``, next to torchinfo, ptflops, fvcore and thop?

Part 1 analyses every registered model at its paper's input (building it on
the meta device, then tracing it) and prints the time per model and in total.

Part 2 runs cnnzoo and the other tools side by side, in one process, on the
same real CPU models at 224×224 and 1024×1024, and prints the time each takes
(best of ``--repeat`` runs) and the totals each reports. cnnzoo traces on meta
tensors, so its cost does not depend on the resolution; the others run a real
forward pass.

The other tools are the ``bench`` extra (``pip install -c constraints.txt
-e ".[bench]"``); a tool that is not installed is listed as such.

    python benchmarks/analysis_speed.py                      # both parts
    python benchmarks/analysis_speed.py --part 2 --models resnet152 densenet201 --sizes 224 1024
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import logging
import platform
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch

import cnnzoo
from cnnzoo.analysis import analyze
from cnnzoo.registry import get_model_info


def _best(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """Best wall-clock and best CPU time (this process, all threads) of ``repeat`` runs.

    On a shared machine the wall clock mostly measures the other jobs; the CPU
    time is what the work itself costs.
    """
    wall = cpu = float("inf")
    result = None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        result = fn()
        wall = min(wall, time.perf_counter() - t)
        cpu = min(cpu, time.process_time() - c)
    return wall, cpu, result


def part1(pattern: str) -> None:
    names = cnnzoo.list_models(pattern)
    print(f"## Part 1: every registered model at its paper's input ({len(names)} models)\n")
    from cnnzoo.analysis.analyze import _build_on_meta

    print(
        "| model | input | params | MACs | paper MACs | build CPU (s) | analyse CPU (s) | analyse wall (s) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    total_build = total_analyse = 0.0
    worst: list[tuple[float, str]] = []
    start, start_cpu = time.perf_counter(), time.process_time()
    for name in names:
        info = get_model_info(name)
        c = time.process_time()
        model = _build_on_meta(cnnzoo.create, name, {})
        build = time.process_time() - c
        t, c = time.perf_counter(), time.process_time()
        r = analyze(model, info.input_size)
        wall, took = time.perf_counter() - t, time.process_time() - c
        total_build += build
        total_analyse += took
        worst.append((build + took, name))
        paper = info.macs.text if info.macs else "-"
        print(
            f"| {name} | {'x'.join(map(str, info.input_size))} | {r.params:,} | {r.macs:,} | {paper} "
            f"| {build:.3f} | {took:.3f} | {wall:.3f} |"
        )
    wall = time.perf_counter() - start
    cpu = time.process_time() - start_cpu
    print(
        f"\nTotal: {len(names)} models, CPU time: build {total_build:.1f} s + analyse "
        f"{total_analyse:.1f} s = {cpu:.1f} s (wall {wall:.1f} s). Slowest (CPU): "
        + ", ".join(f"{n} {s:.2f} s" for s, n in sorted(worst, reverse=True)[:5])
        + "\n"
    )


# --- the other tools -------------------------------------------------------------


def _torchinfo(model: torch.nn.Module, size: tuple[int, ...]) -> dict[str, float]:
    import torchinfo

    s = torchinfo.summary(model, input_size=(1, *size), verbose=0)
    return {"macs": s.total_mult_adds, "params": s.total_params}


def _ptflops(backend: str) -> Callable[[torch.nn.Module, tuple[int, ...]], dict[str, float]]:
    def run(model: torch.nn.Module, size: tuple[int, ...]) -> dict[str, float]:
        from ptflops import get_model_complexity_info

        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            macs, params = get_model_complexity_info(
                model,
                size,
                as_strings=False,
                print_per_layer_stat=False,
                verbose=False,
                backend=backend,
            )
        return {"macs": macs, "params": params}

    return run


def _fvcore(model: torch.nn.Module, size: tuple[int, ...]) -> dict[str, float]:
    from fvcore.nn import FlopCountAnalysis

    logging.getLogger("fvcore").setLevel(logging.ERROR)
    flops = FlopCountAnalysis(model, torch.zeros(1, *size))
    flops.unsupported_ops_warnings(False)
    flops.uncalled_modules_warnings(False)
    total = flops.total()  # fvcore counts one "flop" per multiply-add
    skipped = sorted(flops.unsupported_ops())
    return {"macs": total, "params": sum(p.numel() for p in model.parameters()), "skipped": skipped}


def _thop(model: torch.nn.Module, size: tuple[int, ...]) -> dict[str, float]:
    from thop import profile

    m = copy.deepcopy(model)  # thop adds buffers to every module
    with contextlib.redirect_stdout(io.StringIO()):
        macs, params = profile(m, inputs=(torch.zeros(1, *size),), verbose=False)
    return {"macs": macs, "params": params}


def _cnnzoo(model: torch.nn.Module, size: tuple[int, ...]) -> dict[str, float]:
    r = analyze(model, size)
    return {"macs": r.macs, "params": r.params, "other": r.other_ops}


TOOLS: dict[str, Callable[[torch.nn.Module, tuple[int, ...]], dict[str, float]]] = {
    "cnnzoo": _cnnzoo,
    "ptflops (aten)": _ptflops("aten"),
    "ptflops (pytorch)": _ptflops("pytorch"),
    "thop": _thop,
    "torchinfo": _torchinfo,
    "fvcore": _fvcore,
}


def part2(models: list[str], sizes: list[int], repeat: int) -> None:
    print("## Part 2: side by side on real CPU models\n")
    print(
        "| model | input | tool | CPU (s) | CPU vs cnnzoo | wall (s) | MACs reported "
        "| vs exact conv+linear | params |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    notes: list[str] = []
    for name in models:
        torch.manual_seed(0)
        model = cnnzoo.create(name).eval()
        for side in sizes:
            size = (3, side, side)
            times: dict[str, float] = {}
            exact = None
            for tool, fn in TOOLS.items():
                reps = repeat if side <= 224 or tool == "cnnzoo" else 1
                try:
                    with torch.no_grad(), warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        if tool != "cnnzoo" and side == sizes[0]:
                            fn(model, size)  # warm-up (imports, first-call costs)
                        wall, took, res = _best(lambda fn=fn, m=model, s=size: fn(m, s), reps)
                except ImportError:
                    print(f"| {name} | {side} | {tool} | not installed | | | | | |")
                    continue
                except Exception as e:  # noqa: BLE001 - report and go on
                    print(
                        f"| {name} | {side} | {tool} | failed: {type(e).__name__}: {str(e)[:60]} | | | | | |"
                    )
                    continue
                times[tool] = took
                if tool == "cnnzoo":
                    exact = res["macs"]
                ratio = (
                    "1" if tool == "cnnzoo" else f"{took / times.get('cnnzoo', float('nan')):.0f}x"
                )
                diff = (res["macs"] - exact) / exact * 100 if exact else 0.0
                print(
                    f"| {name} | {side} | {tool} | {took:.3f} | {ratio} | {wall:.3f} | {res['macs']:,.0f} "
                    f"| {diff:+.2f}% | {res['params']:,.0f} |"
                )
                if tool == "cnnzoo":
                    notes.append(
                        f"{name} at {side}: cnnzoo other ops (BN, activations, pooling, adds) "
                        f"{res['other']:,} = {res['other'] / res['macs'] * 100:.2f}% of the MACs"
                    )
                if res.get("skipped"):
                    notes.append(f"{name} at {side}: fvcore skipped {', '.join(res['skipped'])}")
            others = {k: v for k, v in times.items() if k != "cnnzoo"}
            if others and "cnnzoo" in times:
                fastest = min(others, key=others.get)
                notes.append(
                    f"{name} at {side}: cnnzoo {times['cnnzoo'] * 1e3:.0f} ms CPU, fastest other "
                    f"{fastest} {others[fastest] * 1e3:.0f} ms CPU: {others[fastest] / times['cnnzoo']:.1f}x"
                )
    print()
    for n in notes:
        print(f"- {n}")
    print()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--part", type=int, choices=(1, 2), help="run only part 1 or part 2")
    p.add_argument("--pattern", default="*", help="models for part 1 (shell pattern)")
    p.add_argument("--models", nargs="+", default=["resnet152", "densenet201"])
    p.add_argument("--sizes", nargs="+", type=int, default=[224, 1024])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="intra-op threads for the real forward passes (1: on a shared machine, two "
        "threads contending with other jobs slowed them tenfold)",
    )
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"# cnnzoo analysis speed: torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"Python {platform.python_version()}\n"
    )
    if args.part in (None, 1):
        part1(args.pattern)
    if args.part in (None, 2):
        part2(args.models, args.sizes, args.repeat)


if __name__ == "__main__":
    main()
