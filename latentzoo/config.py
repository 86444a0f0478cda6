"""Resolving a model's configuration: class defaults < recipe for the data < YAML file < ``--set``.

Values given with ``--set key=value`` are parsed as YAML scalars (``lr=1e-3``, ``tied=true``,
``loss=hinge``) and validated by the model's pydantic ``Config``: an unknown key, a wrong type
or an out-of-range value is a :class:`UserError` with one line naming the key.
"""

from __future__ import annotations

import typing
from pathlib import Path

import yaml
from pydantic import ValidationError

from latentzoo.errors import UserError


def parse_overrides(pairs: list[str] | tuple[str, ...]) -> dict:
    """``["lr=1e-3", "tied=true"]`` → ``{"lr": 0.001, "tied": True}``."""
    out = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UserError(f"--set expects key=value, got {pair!r}")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        if isinstance(value, str) and value.lower() in {"none", "null"}:
            value = None
        out[key] = value
    return out


def read_config_file(path: str | Path) -> dict:
    """A YAML mapping of options; a saved run's ``config.yaml`` also works (its ``config`` part)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{path}: not valid YAML ({first})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of option: value, got {type(data).__name__}")
    if isinstance(data.get("config"), dict):
        return dict(data["config"])
    return data


def build_config(model_cls, dataset, file_options: dict | None = None, overrides: dict | None = None,
                 use_recipe: bool = True):
    """The validated config of ``model_cls`` for ``dataset`` (the recipe and ``check`` need a whole Dataset)."""
    values = dict(model_cls.recipe(dataset)) if use_recipe else {}
    for source in (file_options or {}, overrides or {}):
        values.update(source)
    try:
        config = model_cls.Config(**values)
    except ValidationError as e:
        raise UserError(describe_validation_error(e, model_cls)) from None
    if use_recipe:
        model_cls.check(config, dataset)
    return config


def describe_validation_error(error: ValidationError, model_cls) -> str:
    """One line for the first problem pydantic found."""
    first = error.errors()[0]
    key = ".".join(str(p) for p in first.get("loc", ())) or "?"
    if first.get("type") == "extra_forbidden":
        known = ", ".join(sorted(model_cls.Config.model_fields))
        return f"unknown option {key!r} for {model_cls.name}; known options: {known}"
    value = first.get("input")
    return f"invalid value {key}={value!r} for {model_cls.name}: {first.get('msg', 'invalid').lower()}"


class _NoAliasLoader(yaml.SafeLoader):
    """YAML's safe loader without anchors and aliases (a few hundred bytes of nested aliases expand
    to billions of values) and without duplicate keys."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.events.AliasEvent):
            event = self.peek_event()
            raise yaml.YAMLError(f"aliases are not allowed (line {event.start_mark.line + 1})")
        return super().compose_node(parent, index)


def safe_yaml_load(text: str, what: str):
    """Parse YAML ``text`` (from ``what``, for the message) refusing aliases; a UserError when invalid."""
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{what}: not valid YAML ({first[:120]})") from None


def describe_options(model_cls, dataset) -> list[tuple[str, str, str, str, str, str]]:
    """(name, type, range, default, recipe value for ``dataset``, description) of every option,
    read from the model's configuration class (the one source of the options)."""
    recipe = model_cls.recipe(dataset)
    rows = []
    for name, field in model_cls.Config.model_fields.items():
        bounds = []
        for m in field.metadata:
            for attr, sign in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
                if getattr(m, attr, None) is not None:
                    bounds.append(f"{sign} {getattr(m, attr)}")
        choices = typing.get_args(field.annotation) if typing.get_origin(field.annotation) is typing.Literal else ()
        kind = getattr(field.annotation, "__name__", None) or str(field.annotation).replace("typing.", "")
        if choices:
            kind, bounds = "str", [" | ".join(map(str, choices))]
        rows.append((name, kind, ", ".join(bounds) or "-", repr(field.default),
                     repr(recipe[name]) if name in recipe else "-", field.description or ""))
    return rows
