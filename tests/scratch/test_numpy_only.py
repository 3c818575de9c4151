"""``cnnzoo.scratch`` depends on NumPy and the standard library only (its package docstring)."""

import ast
import sys
from pathlib import Path

import cnnzoo.scratch

ALLOWED = {"numpy", "cnnzoo"} | set(sys.stdlib_module_names)


def test_scratch_imports_numpy_and_the_standard_library_only():
    root = Path(cnnzoo.scratch.__file__).parent
    files = sorted(root.glob("*.py"))
    assert len(files) >= 10
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in ALLOWED, f"{path.name} imports {name}"
                if top == "cnnzoo":
                    assert name.startswith("cnnzoo.scratch"), f"{path.name} imports {name}"
