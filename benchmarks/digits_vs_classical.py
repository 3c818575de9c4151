"""LeNet-5 against the classical classifiers of its day, on the same digits split.

LeCun et al. (1998) report LeNet-5 matching or beating the support vector
machines of the time on MNIST. This script repeats the comparison on the
embedded digits: the fixed split ``train_test_split(test_size=0.25,
random_state=0, stratify=y)`` (1,347 / 450 images), scikit-learn's SVC with an
RBF kernel (default and tuned C, gamma by 5-fold grid search on the training
set), logistic regression, and ``cnnzoo train lenet5`` with its default recipe
(several seeds). Prints test accuracy and wall time side by side.

    python benchmarks/digits_vs_classical.py [--seeds 0 1 2] [--epochs N]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.svm import SVC

from cnnzoo.data.digits import load_digits_arrays
from cnnzoo.train import TrainConfig, train


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    args = ap.parse_args()

    a = load_digits_arrays(size=8)
    # Raw 0–16 pixel values, as scikit-learn's own digits examples use them.
    xtr, xte = a.x_train.reshape(len(a.x_train), -1) * 16, a.x_test.reshape(len(a.x_test), -1) * 16
    rows = []

    def fit_score(clf):
        clf.fit(xtr, a.y_train)
        return clf.score(xte, a.y_test)

    acc, sec = timed(lambda: fit_score(SVC()))
    rows.append(("SVC, RBF, default C and gamma", acc, sec))
    grid = GridSearchCV(SVC(), {"C": [1, 3, 10, 30, 100], "gamma": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]}, cv=5)
    acc, sec = timed(lambda: fit_score(grid))
    rows.append((f"SVC, RBF, tuned (C={grid.best_params_['C']}, gamma={grid.best_params_['gamma']})", acc, sec))
    acc, sec = timed(lambda: fit_score(LogisticRegression(max_iter=5000)))
    rows.append(("logistic regression", acc, sec))

    accs = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as d:
            cfg = TrainConfig(epochs=args.epochs, seed=seed, out=d, progress=False)
            res, sec = timed(lambda cfg=cfg: train(cfg))
        accs.append(res.final["test_acc"])
        rows.append((f"cnnzoo LeNet-5, default recipe, seed {seed}", res.final["test_acc"], sec))

    print(f"digits split 1,347/450; {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} torch threads, torch {torch.__version__}")
    print(f"| {'method':<52} | test accuracy | wall time |")
    print(f"|{'-' * 54}|--------------:|----------:|")
    for name, acc, sec in rows:
        print(f"| {name:<52} | {acc:>12.2%} | {sec:>7.2f} s |")
    print(f"LeNet-5 over {len(accs)} seeds: mean {np.mean(accs):.2%}, min {min(accs):.2%}, max {max(accs):.2%}")


if __name__ == "__main__":
    main()
