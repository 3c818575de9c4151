"""The codebase cites papers and its own files, never documents a user of cnnzoo does not have.

The patterns are assembled from pieces so that this file does not match itself.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCOPE = ("src", "tests", "docs", "benchmarks", "README.md", "pyproject.toml", "Makefile")
SKIP_DIRS = {"__pycache__", ".pytest_cache", ".hypothesis", ".mypy_cache", ".ruff_cache"}

OUTSIDE = re.compile(
    "|".join(
        [
            re.escape(name + ".md") for name in ("REFERENCE", "DESIGN", "STYLE")
        ] + [
            re.escape("shared" + "/"),
            re.escape("seeds" + "/"),
            "seed" + r"\s+0\d\d",  # a numbered note
            "seed" + r"\s+notes",
            "study" + r"\s+notes",
        ]
    ),
    re.IGNORECASE,
)


def _text_files():
    for entry in SCOPE:
        path = ROOT / entry
        candidates = [path] if path.is_file() else sorted(path.rglob("*")) if path.is_dir() else []
        for f in candidates:
            if f.is_file() and not SKIP_DIRS & set(f.relative_to(ROOT).parts):
                data = f.read_bytes()
                if b"\0" not in data:  # binary (images, checkpoints): nothing to cite
                    yield f, data.decode("utf-8", errors="replace")


def test_the_patterns_catch_what_they_should_and_spare_random_seeds():
    for bad in ("see " + "DESIGN" + ".md", "../" + "shared" + "/x", "seed" + " 002 §3.11", "the " + "seed" + " notes", "Study" + " notes"):
        assert OUTSIDE.search(bad), bad
    for fine in ("--seed 0", "seed: int = 0", "np.random.default_rng(seed)", "seed 42", "a shared buffer"):
        assert not OUTSIDE.search(fine), fine


def test_nothing_cites_files_outside_the_repository():
    files = list(_text_files())
    assert len(files) > 100  # the scan really walked the tree
    hits = [
        f"{f.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)!r}"
        for f, text in files
        for m in OUTSIDE.finditer(text)
    ]
    assert not hits, "cite the paper or the project's own file instead:\n" + "\n".join(hits)
