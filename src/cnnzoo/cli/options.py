"""Command-line options derived from declared settings (:func:`cnnzoo.train.config.setting`).

Each setting becomes one option: the flag is the field name with dashes (or the
declared ``flag``), the help and default are the declared ones, a bool is
``--x/--no-x``, a list of integers takes ``0,1,2``, a mapping takes a repeatable
``NAME=VALUE``, and a setting that may be unset takes ``none`` (to clear what a
``--config`` file set). :func:`signature` builds the ``inspect.Signature`` that typer
reads, so a command is its settings and nothing written twice.

Why a short generator on typer rather than tyro, jsonargparse or simple-parsing:
every other command is typer, and those bring their own help layout, their own
multi-line error output and their own config-file rules, which would then have
to be bent back into the one-line ``error: --flag …`` of this CLI. Here typer
only parses; every value is checked once, by ``TrainConfig.validate()``, and the
error names the flag. Values are read leniently for that reason: ``--epochs 1e3``
reaches validation as the float it is and is refused there, by name.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any

import typer

from cnnzoo.cli.app import parse_kwargs
from cnnzoo.train.config import ConfigError, Setting, split_optional

__all__ = ["cli_name", "config_error_line", "flag_of", "given_on_command_line", "signature", "to_field_value"]

Declared = Mapping[str, tuple[dataclasses.Field, Any, Setting]]


def flag_of(name: str, s: Setting) -> str:
    """The flag a user types for setting ``name``: ``--batch-size``; ``MODEL`` for an argument."""
    if s.argument:
        return s.metavar or name.upper()
    return s.flag[0].split("/")[0].strip() if s.flag else "--" + name.replace("_", "-")


def cli_name(declared: Declared, extra: Mapping[str, str] | None = None) -> Callable[[str], str]:
    """``name → flag`` over ``declared`` (and ``extra``, e.g. ``{"config": "--config"}``); other names pass through."""

    def name(field: str) -> str:
        if field in declared:
            return flag_of(field, declared[field][2])
        return (extra or {}).get(field, field)

    return name


def signature(declared: Declared, leading: list[inspect.Parameter]) -> inspect.Signature:
    """A function signature of ``leading`` parameters then one typer option (or argument) per setting."""
    params = list(leading)
    for name, (f, hint, s) in declared.items():
        params.append(_parameter(name, f, hint, s))
    return inspect.Signature(params, return_annotation=None)


def _default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore[misc]


def _parameter(name: str, f: dataclasses.Field, hint: Any, s: Setting) -> inspect.Parameter:
    base, optional = split_optional(hint)
    default = _default(f)
    help_text = s.help + (f" One of: {', '.join(s.choices)}." if s.choices else "")
    shown: bool | str = True if default not in (None, {}, []) else (s.default_text or "none")
    common = {"help": help_text, "show_default": shown, "metavar": s.metavar or _metavar(base)}
    if base is bool:
        flag = s.flag or (f"--{name.replace('_', '-')}/--no-{name.replace('_', '-')}",)
        info, annotation = typer.Option(default, *flag, help=help_text, show_default=shown), bool
    elif typing.get_origin(base) is dict:
        info, annotation = typer.Option(None, *(s.flag or (flag_of(name, s),)), **common), list[str]
    else:
        parse = _parser(base, optional)
        if s.argument:
            info = typer.Argument(default, parser=parse, **common)
        else:
            info = typer.Option(default, *(s.flag or (flag_of(name, s),)), parser=parse, **common)
        annotation = str
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=annotation)


def _metavar(base: Any) -> str:
    if typing.get_origin(base) is list:
        return "<i,j,…>"
    return {int: "<int>", float: "<float>"}.get(base, "<str>")


def _parser(base: Any, optional: bool) -> Callable[[Any], Any]:
    """Text → the setting's type where it reads as one; anything else is passed on for validation to name."""

    def parse(value: Any) -> Any:
        if not isinstance(value, str):
            return value  # a default, already typed
        if optional and value.strip().lower() == "none":
            return None
        if typing.get_origin(base) is list:
            return _int_list(value)
        if base in (int, float):
            return _number(value, base)
        return value

    parse.__name__ = "int" if base is int else "float" if base is float else "text"
    return parse


def _number(text: str, base: type) -> Any:
    for kind in (base, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _int_list(text: str) -> Any:
    try:
        return [int(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError:
        return text


def to_field_value(name: str, value: Any, declared: Declared) -> Any:
    """A parsed option value as the setting holds it (``--arg`` items → a dict)."""
    f, hint, s = declared[name]
    if typing.get_origin(split_optional(hint)[0]) is dict:
        return parse_kwargs(list(value or []), option=flag_of(name, s))
    return value


def given_on_command_line(ctx: typer.Context, values: Mapping[str, Any], declared: Declared) -> dict[str, Any]:
    """The settings the user typed, as field values; defaults are left out so a --config file keeps its own."""
    given = {}
    for name, value in values.items():
        source = ctx.get_parameter_source(name)
        # Compared by name: typer ships its own copy of click's ParameterSource enum.
        if name in declared and source is not None and source.name == "COMMANDLINE":
            given[name] = to_field_value(name, value, declared)
    return given


def config_error_line(e: ConfigError, declared: Declared) -> str:
    """``e`` as the command line knows it: flags, not field names."""
    return e.render(cli_name(declared, {"config": "--config"}))
