"""A data set's default recipe, applied to the settings a run left at their declared defaults.

A data set may carry recipes in ``DataBundle.meta["recipe"]``: a mapping from
a model name (or ``"*"``, any other model) to training settings, e.g.
``digits-seg``'s U-Net recipe (:data:`cnnzoo.data.digits_seg.RECIPES`).
:func:`apply_recipe` takes the model's own recipe, else the generic one, and

* sets each setting whose value still equals its :class:`TrainConfig`
  default — the library cannot know what was typed, so ``--epochs 40`` (the
  default) is replaced like an untyped one, while ``--epochs 41`` is kept;
* merges ``model_kwargs`` key by key, the run's own keys winning.

What was applied is returned, and :func:`cnnzoo.train.setup.setup` records
it in ``config.json`` (``data_info.recipe``), so no setting changes unseen.
Data without recipes (every classification set) changes nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from cnnzoo.train.config import TrainConfig

__all__ = ["GENERIC", "apply_recipe", "recipe_for"]

GENERIC = "*"  # the key of the recipe for models without their own


def recipe_for(recipes: Mapping[str, Any] | None, model: str) -> tuple[str, dict[str, Any]]:
    """``(key, settings)`` of ``model``'s recipe in ``recipes``, else the generic one; ``("", {})`` if none."""
    if not recipes:
        return "", {}
    for key in (model, GENERIC):
        if key in recipes:
            return key, dict(recipes[key])
    return "", {}


def apply_recipe(config: TrainConfig, recipes: Mapping[str, Any] | None) -> tuple[TrainConfig, dict[str, Any]]:
    """``config`` with ``recipes``' settings where it kept the defaults; and ``{"recipe": key, "applied": {...}}``.

    The second value is empty when nothing changed.
    """
    key, recipe = recipe_for(recipes, config.model)
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    changes: dict[str, Any] = {}
    applied: dict[str, Any] = {}  # what the recipe set (of model_kwargs, only the keys it added)
    for name, value in recipe.items():
        if name not in fields:
            raise ValueError(f"recipe {key!r} names {name!r}, which is not a training setting")
        if name == "model_kwargs":
            added = {k: v for k, v in value.items() if k not in config.model_kwargs}
            if added:
                changes[name], applied[name] = {**added, **config.model_kwargs}, added
        elif getattr(config, name) == _default(fields[name]) and value != getattr(config, name):
            changes[name] = applied[name] = value
    if not changes:
        return config, {}
    return dataclasses.replace(config, **changes), {"recipe": key, "applied": applied}


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    return field.default_factory()  # type: ignore[misc]
