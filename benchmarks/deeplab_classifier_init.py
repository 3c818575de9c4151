"""DeepLab v3's scoring layer: the authors' N(0, 0.01²) start against PyTorch's, from scratch.

L.-C. Chen, G. Papandreou, F. Schroff, H. Adam, "Rethinking Atrous
Convolution for Semantic Image Segmentation", 2017, arXiv:1706.05587. The
authors' releases start the last 1×1 convolution (ASPP's 256 maps → the
classes) from a Gaussian of standard deviation 0.01 and fine-tune an ImageNet
backbone with SGD. Trained from scratch with AdamW, the small configuration
(``deeplabv3_resnet18`` at width ×0.25, output stride 4, digits-seg's recipe)
sat at "background everywhere" for its first epochs with that start; with
PyTorch's default start (uniform ±1/√fan_in, as torchvision's DeepLab head)
it did not. This script trains both, same seed, data order and recipe, one
after the other in one process, and prints the test mean IU after every epoch.

    python benchmarks/deeplab_classifier_init.py [--epochs 12] [--seed 0]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from cnnzoo.data.digits_seg import RECIPES
from cnnzoo.train import TrainConfig, train

STARTS = {"N(0, 0.01²), the authors'": 0.01, "PyTorch's default": None}


def run(std: float | None, epochs: int, seed: int, out: Path) -> tuple[list[float], float]:
    """Test mean IU after each epoch and the wall time of one training run."""
    recipe = RECIPES["deeplabv3_resnet18"]
    cfg = TrainConfig(
        model="deeplabv3_resnet18", data="digits-seg", epochs=epochs, batch_size=recipe["batch_size"], lr=recipe["lr"],
        model_kwargs=recipe["model_kwargs"] | {"classifier_std": std}, seed=seed, out=str(out), progress=False,
    )  # fmt: skip
    start = time.perf_counter()
    result = train(cfg)
    return [row["test_miou"] for row in result.rows], time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=RECIPES["deeplabv3_resnet18"]["epochs"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {name: run(std, args.epochs, args.seed, Path(tmp) / str(i)) for i, (name, std) in enumerate(STARTS.items())}
    print("| scoring layer's start | " + " | ".join(f"ep {e + 1}" for e in range(args.epochs)) + " | wall |")
    print("|---|" + "---|" * (args.epochs + 1))
    for name, (mious, wall) in results.items():
        print(f"| {name} | " + " | ".join(f"{m:.3f}" for m in mious) + f" | {wall:.0f} s |")


if __name__ == "__main__":
    main()
