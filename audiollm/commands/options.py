"""Flags more than one command shares: ``--model``, ``--device``/``--dtype``, and flags generated from a config
dataclass's fields."""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any, Literal, TypeVar

from ..config import DEFAULT_MODEL, MODEL_HELP
from ..placement import DEVICE_HELP, DTYPE_HELP, DTYPES

T = TypeVar("T")


def add_model_argument(parser: argparse.ArgumentParser) -> None:
    """``--model``, and where it runs: ``--device`` and ``--dtype`` (every command that loads a model)."""
    parser.add_argument("--model", default=DEFAULT_MODEL, help=MODEL_HELP)
    parser.add_argument("--device", default="auto", help=DEVICE_HELP)
    parser.add_argument("--dtype", default="auto", choices=DTYPES, help=DTYPE_HELP)


def add_config_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """One ``--flag-name`` per field of dataclass ``cls``: its type, choices and default from the field, its help
    from the field's ``help`` metadata (:func:`audiollm.config.option`); the commands' HelpFormatter adds the
    default."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        if typing.get_origin(hint) in (typing.Union, types.UnionType):
            hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
        kwargs: dict[str, Any] = {"default": field.default, "help": field.metadata["help"]}
        if typing.get_origin(hint) is Literal:
            kwargs["choices"] = typing.get_args(hint)
        elif hint is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = hint
        parser.add_argument("--" + field.name.replace("_", "-"), **kwargs)


def config_from_args(cls: type[T], args: argparse.Namespace) -> T:
    """The dataclass ``cls`` from the flags :func:`add_config_arguments` added."""
    return cls(**{field.name: getattr(args, field.name) for field in dataclasses.fields(cls)})  # type: ignore[arg-type]
