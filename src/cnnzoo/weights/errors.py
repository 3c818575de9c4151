"""The one error type of weight import."""

from __future__ import annotations

__all__ = ["WeightsError"]


class WeightsError(ValueError):
    """A checkpoint file that cannot be imported: named, with what was expected, on one line."""
