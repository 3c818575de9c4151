"""docs/papers.md is generated from the registry; this test regenerates it and fails if it is stale.

Counting every model's multiply-adds at the paper's input size is what
``tests/analysis/test_registry_macs.py`` already does (and checks against the
papers), so here that column is compared with the paper's printed number
instead of being counted a second time; our parameter counts are checked
against ``create(name)`` in ``tests/models/test_one_truth.py``, which builds
every model anyway. Every other cell must be exactly as the registry gives it.
"""

from __future__ import annotations

import re
from pathlib import Path

import cnnzoo
from cnnzoo.papers import UNCOUNTED, papers_markdown
from cnnzoo.registry import get_model_info, parse_count

DOC = Path(__file__).resolve().parents[1] / "docs" / "papers.md"
PARAMS_OURS, MACS_OURS = 6, 8  # columns of our counts in a row split on "|"


def _without_our_counts(line: str) -> str:
    if not line.startswith("| `"):
        return line
    cells = line.split("|")
    cells[PARAMS_OURS] = f" {UNCOUNTED} "
    cells[MACS_OURS] = f" {UNCOUNTED} " if cells[MACS_OURS].strip() != "—" else cells[MACS_OURS]
    return "|".join(cells)


def test_docs_papers_md_is_up_to_date():
    doc = DOC.read_text(encoding="utf-8")
    expected = papers_markdown(count=False)
    assert "\n".join(map(_without_our_counts, doc.splitlines())) + "\n" == expected, (
        "docs/papers.md is stale: run `cnnzoo list --markdown > docs/papers.md`"
    )
    # One row per registered model, each citing its paper with authors and year.
    rows = [line for line in doc.splitlines() if line.startswith("| `")]
    assert len(rows) == len(cnnzoo.list_models())
    assert all(re.search(r"[A-Z][a-z]+.* (19|20)\d\d", row.split("|")[2]) for row in rows)


def test_our_macs_in_docs_papers_md_match_the_papers():
    for row in (line for line in DOC.read_text(encoding="utf-8").splitlines() if line.startswith("| `")):
        cells = row.split("|")
        info = get_model_info(cells[1].strip().strip("`"))
        if info.macs is None:
            assert cells[MACS_OURS].strip() == "—"
        else:
            ours = parse_count(cells[MACS_OURS].strip()).value
            assert info.macs.matches(ours), f"{info.name}: docs/papers.md says {cells[MACS_OURS].strip()}, the paper {info.macs.text}"
