"""Training steps per second under different thread settings, idle and on a busy machine, side by side.

OpenMP's wait policy is read once, when the runtime loads, so every setting runs
in its own child process (``--child``); the parent runs them in rotating order,
round after round, so that whatever else the machine is doing falls on all
settings alike. "busy" adds one pure-Python spinning process per usable core (the
other work of a shared machine); "as is" adds nothing. Each child trains MODEL
(random images of its input size, AdamW, batches of 32) for a fixed number of
steps after warm-up (at most ``--budget`` seconds, at least two steps) and
reports the median step time. The table gives, per model and load, each
setting's median step time and its ratio to the fastest setting under the first
load listed (on an idle machine, "within 2× of idle" reads off directly).
"auto" is cnnzoo's policy (:func:`cnnzoo.threads.apply_thread_policy`).

    python benchmarks/threads.py [--rounds 2] [--models lenet5,resnet18@3x32x32] [--loads as-is,busy]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import multiprocessing.synchronize
import os
import platform
import statistics
import subprocess
import sys
import time

SETTINGS = {
    # name: environment added to the child, and the thread count it asks for ("auto": cnnzoo's policy)
    "default": ({}, None),
    "passive": ({"OMP_WAIT_POLICY": "PASSIVE"}, None),
    "1 thread": ({}, 1),
    "auto": ({}, "auto"),
}


def _spin(stop: mp.synchronize.Event) -> None:
    while not stop.is_set():
        sum(range(10_000))


def child(model_spec: str, threads: str | None, steps: int, batch: int, budget: float) -> dict:
    """Median seconds per training step of ``model_spec`` (``name`` or ``name@CxHxW``)."""
    import torch

    import cnnzoo
    from cnnzoo.threads import apply_thread_policy

    name, _, size_text = model_spec.partition("@")
    size = tuple(int(s) for s in size_text.split("x")) if size_text else tuple(cnnzoo.get_model_info(name).input_size)
    model = cnnzoo.create(name, num_classes=10, in_chans=size[0])
    macs = cnnzoo.analyze(name, size, num_classes=10, in_chans=size[0]).macs
    if threads == "auto":
        apply_thread_policy(macs)
    elif threads is not None:
        torch.set_num_threads(int(threads))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x, y = torch.randn(batch, *size), torch.randint(0, 10, (batch,))
    times, began = [], time.perf_counter()
    for i in range(steps + 3):  # three warm-up steps
        if len(times) >= 2 and time.perf_counter() - began > budget:
            break  # a setting that is many times slower need not be timed as long to be seen
        start = time.perf_counter()
        out = model(x)
        loss = torch.nn.functional.cross_entropy(out[0] if isinstance(out, tuple) else out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= 3:
            times.append(time.perf_counter() - start)
    return {"step_s": statistics.median(times), "threads": torch.get_num_threads(), "macs": macs}


def _run_child(model: str, setting: str, steps: int, batch: int, budget: float) -> dict:
    env_add, threads = SETTINGS[setting]
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    env.update(env_add)
    cmd = [sys.executable, __file__, "--child", model, "--steps", str(steps), "--batch", str(batch), "--budget", str(budget)]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _measure(models: list[str], loads: list[str], rounds: int, steps: int, batch: int, budget: float) -> dict:
    results: dict = {}
    names = list(SETTINGS)
    for r in range(rounds):
        for load in loads:
            stop, spinners = mp.Event(), []
            if load == "busy":
                spinners = [mp.Process(target=_spin, args=(stop,), daemon=True) for _ in range(len(os.sched_getaffinity(0)))]
                for p in spinners:
                    p.start()
            try:
                for model in models:
                    for k in range(len(names)):  # rotate the order every round
                        setting = names[(k + r) % len(names)]
                        res = _run_child(model, setting, steps, batch, budget)
                        results.setdefault((model, load, setting), []).append(res)
                        print(f"round {r} {load:5} {model:20} {setting:9} {res['step_s'] * 1e3:8.1f} ms/step  ({res['threads']} threads)", flush=True)
            finally:
                stop.set()
                for p in spinners:
                    p.join()
    return results


def _table(results: dict, models: list[str], loads: list[str]) -> None:
    print("\n| model | MACs/image | load | " + " | ".join(SETTINGS) + " |")
    print("|---|---:|---|" + "---:|" * len(SETTINGS))
    for model in models:
        med = {key[1:]: statistics.median(v["step_s"] for v in runs) for key, runs in results.items() if key[0] == model}
        idle = min(t for (load, _), t in med.items() if load == loads[0])
        macs = next(runs[0]["macs"] for key, runs in results.items() if key[0] == model)
        for load in loads:
            cells = [f"{med[(load, s)] * 1e3:.1f} ms ({med[(load, s)] / idle:.2f}×)" for s in SETTINGS]
            print(f"| {model} | {macs / 1e6:.1f}M | {load} | " + " | ".join(cells) + " |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="lenet5,resnet18@3x32x32")
    p.add_argument("--loads", default="as-is,busy", help="as-is (the machine as it is) and/or busy (plus one spinner per core)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--budget", type=float, default=30.0, help="seconds of timed steps per run, at most (at least two steps)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--threads", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.threads, args.steps, args.batch, args.budget)))
        return
    import torch

    print(f"# {platform.node()} {platform.machine()}, {len(os.sched_getaffinity(0))} usable cores, "
          f"load average {os.getloadavg()[0]:.2f}, torch {torch.__version__}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    models, loads = args.models.split(","), args.loads.split(",")
    _table(_measure(models, loads, args.rounds, args.steps, args.batch, args.budget), models, loads)


if __name__ == "__main__":
    main()
