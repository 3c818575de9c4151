"""Record a torchvision/timm manifest and fixture (run by hand, never by the tests).

Needs an environment where torchvision's and timm's model code imports (not
cnnzoo's: neither is a dependency)::

    python tests/weights/record_fixtures.py timm-tf_efficientnet_b0 torchvision-resnet50

For each ``<source>-<name>``, the source's own model (no pretrained weights)
gets every tensor filled by ``cnnzoo.weights.synthetic`` from its name. Written:
the state-dict manifest (names, shapes, dtypes in creation order) to
``src/cnnzoo/weights/manifests/`` and the first 20 logits and the sums for
``fixed_input`` to ``fixtures/``, which ``test_fixtures.py`` checks.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import sys
from pathlib import Path

import torch

HERE = Path(__file__).parent
WEIGHTS = HERE.parents[1] / "src" / "cnnzoo" / "weights"
_spec = importlib.util.spec_from_file_location("synthetic", WEIGHTS / "synthetic.py")
S = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(S)  # torch only: cnnzoo itself need not import here

SIZE = {"inception_v3": 80, "legacy_xception": 80, "xception": 80, "inception_v4": 80, "inception_resnet_v2": 80}


def build(source: str, name: str) -> torch.nn.Module:
    if source == "torchvision":
        import torchvision.models as tvm

        kw = {"init_weights": False, "aux_logits": True, "transform_input": False} if name == "inception_v3" else {}
        return tvm.__dict__[name](weights=None, **kw)
    import timm

    return timm.create_model(name, pretrained=False)


def record(key: str) -> None:
    source, name = key.split("-", 1)
    model = build(source, name).eval()
    manifest = [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in model.state_dict().items()]
    model.load_state_dict(S.synthetic_state_dict(manifest))
    size = SIZE.get(name, 64)
    with torch.no_grad():
        y = model(S.fixed_input((1, 3, size, size)))[0].double()
    packed = gzip.compress(json.dumps(manifest, separators=(",", ":")).encode(), mtime=0)  # same bytes each run
    (WEIGHTS / "manifests" / f"{key}.json.gz").write_bytes(packed)
    fixture = {"source": source, "name": name, "input": [1, 3, size, size], "logits": y[:20].tolist(),
               "sum": float(y.sum()), "abs_sum": float(y.abs().sum())}  # fmt: skip
    (HERE / "fixtures" / f"{key}.json").write_text(json.dumps(fixture, indent=0))
    eps = sorted({m.eps for m in model.modules() if "BatchNorm" in type(m).__name__})
    print(f"{key}: {len(manifest)} tensors, BN eps {eps}, max |logit| {float(y.abs().max()):.3g}")


if __name__ == "__main__":
    for key in sys.argv[1:]:
        record(key)
