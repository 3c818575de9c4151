"""``benchmarks/gpu.py --dry-run``: every path of the GPU benchmark runs on the CPU and writes its JSON."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu.py"


@pytest.mark.slow
def test_gpu_benchmark_dry_run_writes_every_measurement(tmp_path):
    out = tmp_path / "gpu.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--dry-run", "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["dry_run"] is True and report["peak_tflops"] is None  # no MFU without a known GPU
    # NVIDIA DeepLearningExamples, ResNet-50 v1.5, AMP, one A100: 2,470 images/s.
    assert report["reference"]["images_per_s"] == 2470
    runs = report["resnet50_bf16_channels_last"]
    assert set(runs) == {"cnnzoo_eager", "plain_eager", "cnnzoo_compiled", "plain_compiled"}
    for r in runs.values():
        assert r["images_per_s"] > 0 and r["mfu"] is None
        # 6 FLOPs per MAC per image: forward 2, backward about twice that.
        assert r["tflops"] == pytest.approx(r["images_per_s"] * 6 * report["resnet50_macs"] / 1e12)
    assert report["resnet20_digits"]["seconds"] > 0 and 0 <= report["resnet20_digits"]["test_acc"] <= 1


def test_peak_table_has_the_data_sheet_numbers():
    from cnnzoo.train.setup import PEAK_TFLOPS

    # Dense bf16 tensor-core peaks (NVIDIA data sheets): H100/H200 SXM 989 TFLOP/s, A100 312 TFLOP/s.
    assert PEAK_TFLOPS["H200"] == PEAK_TFLOPS["H100"] == 989.0
    assert PEAK_TFLOPS["A100"] == 312.0
