"""Exact analysis of any network: shapes, parameters, MACs, receptive fields, memory.

    >>> import cnnzoo
    >>> report = cnnzoo.analyze(cnnzoo.create("lenet5"), (1, 32, 32))
    >>> report.macs, report.receptive_field.size
    (416520, (32.0, 32.0))

The counting conventions are in :mod:`cnnzoo.analysis.macs`, the receptive
field rules in :mod:`cnnzoo.analysis.receptive_field`, the memory figures in
:mod:`cnnzoo.analysis.memory`; :mod:`cnnzoo.analysis.render` prints reports.
"""

from __future__ import annotations

from cnnzoo.analysis.analyze import analyze
from cnnzoo.analysis.report import AnalysisReport, LayerReport, ReceptiveField

__all__ = ["AnalysisReport", "LayerReport", "ReceptiveField", "analyze"]
