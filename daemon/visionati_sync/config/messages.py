"""Turning pydantic's validation errors into the messages a user reads: each names the
file, the key path and the problem (``config.yaml: folders[1].path: directory does not
exist``), and an unknown key the known key it is closest to."""

from __future__ import annotations

import difflib
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from .settings import Settings


class ConfigError(Exception):
    """A configuration problem, worded for the user: file, key path, what is wrong."""


def format_location(loc: tuple[int | str, ...]) -> str:
    """Given pydantic's error location, return it as a key path: ``folders[1].path``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def parse_settings(data: Any, source: str) -> Settings:
    """Given parsed YAML, return validated Settings or raise ConfigError naming each problem."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: (top level): must be a mapping of sections, not a list")
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors(include_url=False, include_input=False):
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown key" + _did_you_mean(error["loc"])
            lines.append(f"{source}: {format_location(error['loc'])}: {message}")
        raise ConfigError("\n".join(lines)) from None


def _did_you_mean(loc: tuple[int | str, ...]) -> str:
    """Given where an unknown key is, the known key its name is closest to, if one is."""
    model: Any = Settings
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return ""
        model = _model_in(field.annotation)
    known = list(getattr(model, "model_fields", {}))
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _model_in(annotation: Any) -> Any:
    """The pydantic model inside an annotation (``X | None``, ``list[X]``), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in get_args(annotation):
        found = _model_in(argument)
        if found is not None:
            return found
    return None
