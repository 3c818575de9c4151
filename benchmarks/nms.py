"""Vectorised NMS and soft-NMS against the readable reference loops, side by side.

Boxes imitate a detector's raw output: ``N`` boxes scattered around ``N/20``
objects on a 1024×1024 image (jittered centres and sizes), scores uniform.
For each ``N`` (1k, 10k, 100k by default) the script times:

* ``nms_reference``: the whiteboard loop over Python floats (the baseline);
* a "torch loop": the usual interview answer, one kept box per Python step,
  its IoU with all remaining boxes computed as one tensor operation;
* ``cnnzoo.detection.nms``: blocked, with the greedy order inside a block
  resolved by matrix operations (no step per box);
* the same for soft-NMS (Gaussian, sigma 0.5): ``soft_nms_reference`` against
  ``soft_nms`` (one vectorised step per selected box).

The readable loops are ``O(N·K)`` in Python and are stopped after
``--cap`` seconds (a row then reads "> cap"). Each row says whether the kept
indices agree with the reference. ``--device cuda`` times the vectorised
versions on a GPU as well.

    python benchmarks/nms.py [--sizes 1000 10000 100000] [--cap 60] [--threads 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import platform
import signal
import time
from collections.abc import Callable

import torch

from cnnzoo.detection import box_iou, nms, nms_reference, soft_nms, soft_nms_reference


class _Timeout(Exception):
    pass


def _alarm(signum, frame):  # noqa: ARG001
    raise _Timeout


def timed(fn: Callable[[], object], cap: float | None = None, sync: bool = False) -> tuple[object, float | None]:
    """Result and seconds of ``fn()``; ``(None, None)`` if it ran past ``cap`` seconds."""
    if cap is not None:
        signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, cap)
    t = time.perf_counter()
    try:
        out = fn()
        if sync:
            torch.cuda.synchronize()
    except _Timeout:
        return None, None
    finally:
        if cap is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
    return out, time.perf_counter() - t


def make_boxes(n: int, seed: int = 0, device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    objects = max(1, n // 20)
    centres = torch.rand(objects, 2, generator=g) * 1024
    sizes = torch.rand(objects, 2, generator=g) * 150 + 20
    k = torch.randint(0, objects, (n,), generator=g)
    c = centres[k] + torch.randn(n, 2, generator=g) * sizes[k] * 0.15
    wh = sizes[k] * (1 + 0.2 * torch.randn(n, 2, generator=g)).clamp(0.5, 1.5)
    boxes = torch.cat((c - wh / 2, c + wh / 2), dim=1)
    return boxes.to(device), torch.rand(n, generator=g).to(device)


def torch_loop_nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """One kept box per step: the common hand-written vectorised answer."""
    order = torch.sort(scores, descending=True, stable=True).indices
    keep = []
    while order.numel():
        i = order[0]
        keep.append(i)
        iou = box_iou(boxes[i][None], boxes[order[1:]])[0]
        order = order[1:][iou <= iou_threshold]
    return torch.stack(keep) if keep else order


def fmt(seconds: float | None, cap: float) -> str:
    return f"> {cap:.0f} s (stopped)" if seconds is None else f"{seconds * 1e3:,.1f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    ap.add_argument("--cap", type=float, default=60.0, help="seconds after which a readable loop is stopped")
    ap.add_argument("--iou", type=float, default=0.5)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (vectorised versions only)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads; 1 keeps timings steady on a shared machine")  # fmt: skip
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"# torch {torch.__version__}, {platform.machine()}, {torch.get_num_threads()} threads, device {args.device}")
    print(f"# IoU threshold {args.iou}; readable loops capped at {args.cap:.0f} s\n")
    rows = []
    for n in args.sizes:
        boxes, scores = make_boxes(n)
        ref, t_ref = timed(lambda b=boxes, s=scores: nms_reference(b, s, args.iou), args.cap)
        loop, t_loop = timed(lambda b=boxes, s=scores: torch_loop_nms(b, s, args.iou), args.cap)
        vec, t_vec = timed(lambda b=boxes, s=scores: nms(b, s, args.iou))
        kept = len(vec)
        same_loop = "n/a" if ref is None or loop is None else str(torch.equal(loop, ref))
        same_vec = "n/a" if ref is None else str(torch.equal(vec, ref))
        row = [f"{n:,}", "NMS", f"{kept:,}", fmt(t_ref, args.cap), fmt(t_loop, args.cap), same_loop,
               fmt(t_vec, args.cap), same_vec]  # fmt: skip
        if args.device != "cpu":
            b, s = boxes.to(args.device), scores.to(args.device)
            nms(b, s, args.iou)  # warm-up
            out, t_dev = timed(lambda b=b, s=s: nms(b, s, args.iou), sync=True)
            row += [fmt(t_dev, args.cap), str(torch.equal(out.cpu(), vec))]
        rows.append(row)
    for n in [s for s in args.sizes if s <= 10_000]:
        boxes, scores = make_boxes(n)
        ref, t_ref = timed(lambda b=boxes, s=scores: soft_nms_reference(b, s), args.cap)
        (vec, vs), t_vec = timed(lambda b=boxes, s=scores: soft_nms(b, s))
        same = "n/a" if ref is None else str(torch.equal(vec, ref[0]))
        row = [f"{n:,}", "soft-NMS", f"{len(vec):,}", fmt(t_ref, args.cap), "—", "—", fmt(t_vec, args.cap), same]
        if args.device != "cpu":
            b, s = boxes.to(args.device), scores.to(args.device)
            (out, _), t_dev = timed(lambda b=b, s=s: soft_nms(b, s), sync=True)
            row += [fmt(t_dev, args.cap), str(torch.equal(out.cpu(), vec))]
        rows.append(row)

    head = ["boxes", "method", "kept", "reference (Python)", "torch loop", "same", "cnnzoo", "same"]
    if args.device != "cpu":
        head += [f"cnnzoo on {args.device}", "same"]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
