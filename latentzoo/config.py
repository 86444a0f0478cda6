"""Resolving a model's configuration: class defaults < recipe for the data < YAML file < ``--set``.

Values given with ``--set key=value`` are parsed as YAML scalars (``lr=1e-3``, ``tied=true``,
``loss=hinge``) and validated by the model's pydantic ``Config``: an unknown key, a wrong type
or an out-of-range value is a :class:`UserError` with one line naming the key.

Every YAML latentzoo reads — ``--config`` files, ``--set`` values, a run's ``config.yaml`` — goes
through :func:`safe_yaml_load` (or :func:`read_yaml_file`), a ``yaml.SafeLoader`` that also refuses

* anchors and aliases (``&a``, ``*a``): nested aliases ("billion laughs") make a few hundred
  bytes stand for 10⁹ values, and configurations have no use for them;
* duplicate keys in a mapping (YAML says keys are unique; PyYAML keeps the last silently);
* nesting deeper than :data:`MAX_YAML_DEPTH` and documents longer than :data:`MAX_YAML_CHARS`;

and never puts the repr of a whole value into a message (:func:`latentzoo.errors.short_repr`).
"""

from __future__ import annotations

import errno
import math
import os
import stat
import typing
from pathlib import Path

import yaml
from pydantic import ValidationError

from latentzoo.errors import UserError, printable, short_repr, shorten

#: Longest YAML text read: a run's config.yaml is under 2 kB, and PyYAML parses 20–100 kB a second.
MAX_YAML_CHARS = 1 << 16
#: Deepest nesting of lists and mappings in a YAML document.
MAX_YAML_DEPTH = 32


class _Refused(yaml.YAMLError):
    """Well-formed YAML that latentzoo refuses (an alias, a duplicate key, too deep or too long)."""


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` without anchors, aliases or duplicate keys, and with bounded nesting."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(f"YAML aliases (*{shorten(event.anchor, 40)}) are not allowed "
                           f"{_where(event)}; write the value out")
        if getattr(event, "anchor", None) is not None:
            raise _Refused(f"YAML anchors (&{shorten(event.anchor, 40)}) are not allowed {_where(event)}")
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise _Refused(f"YAML nested more than {MAX_YAML_DEPTH} levels deep {_where(event)}")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:  # unhashable: SafeConstructor reports it below
                    continue
                if duplicate:
                    raise _Refused(f"duplicate key {short_repr(key, 60)} {_where(key_node)}")
        return super().construct_mapping(node, deep=deep)


def _where(event_or_node) -> str:
    mark = getattr(event_or_node, "start_mark", None)
    return f"(line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""


def _parse(text: str):
    """The document in ``text``; raises ``_Refused`` or another ``yaml.YAMLError``."""
    if len(text) > MAX_YAML_CHARS:
        raise _Refused(f"YAML text of {len(text)} characters, more than the {MAX_YAML_CHARS} allowed")
    loader = _StrictLoader(text)
    try:
        return loader.get_single_data()
    except UserError:  # a refusal of ours (a ValueError too) passes through unchanged
        raise
    except (ValueError, OverflowError) as error:  # e.g. int('9' * 5000), a date like 2024-13-45
        raise yaml.YAMLError(f"a value cannot be converted ({shorten(error, 60)})") from None
    finally:
        loader.dispose()


def _describe_yaml_error(error: yaml.YAMLError) -> str:
    """One short line for a YAML error: its problem and position, not the quoted document."""
    if isinstance(error, yaml.MarkedYAMLError) and error.problem:
        mark = error.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        return shorten(error.problem, 100) + where
    lines = str(error).strip().splitlines()
    return shorten(lines[0] if lines else type(error).__name__, 160)


def safe_yaml_load(text: str, what) -> object:
    """Parse YAML ``text`` read from ``what`` (a path or a description) with the strict safe loader.

    Returns the document (``None`` for an empty one). Raises :class:`UserError`
    ``"<what>: <problem>"`` for malformed YAML, anchors and aliases, duplicate keys and
    documents too long or too deeply nested (see the module docstring).
    """
    try:
        return _parse(text)
    except _Refused as error:
        raise UserError(f"{printable(what)}: {error}") from None
    except yaml.YAMLError as error:
        raise UserError(f"{printable(what)}: not valid YAML ({_describe_yaml_error(error)})") from None


def read_yaml_file(path: str | Path, *, follow_symlinks: bool = True) -> object:
    """The YAML document in the regular file ``path``, read in bounded time and memory.

    A FIFO, a device or a folder is refused (never read), as is a file over
    :data:`MAX_YAML_CHARS` bytes or one not in UTF-8; ``follow_symlinks=False`` also
    refuses a symbolic link (for files inside a run directory). Parsed by
    :func:`safe_yaml_load`; every problem is a :class:`UserError` naming ``path``.
    """
    path = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise UserError(f"{printable(path)}: no such file") from None
    except UserError:  # a refusal of ours (a ValueError too) passes through unchanged
        raise
    except (OSError, ValueError) as error:  # ELOOP: a symlink refused by O_NOFOLLOW
        reason = ("is a symbolic link; refused" if getattr(error, "errno", None) == errno.ELOOP
                  else f"cannot be read ({getattr(error, 'strerror', None) or error})")
        raise UserError(f"{printable(path)}: {reason}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UserError(f"{printable(path)}: is not a regular file; refused")
        if info.st_size > MAX_YAML_CHARS:
            raise UserError(f"{printable(path)}: is {info.st_size} bytes, more than the {MAX_YAML_CHARS} "
                            f"a configuration may have")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as file:
            raw = file.read(MAX_YAML_CHARS + 1)
    except OSError as error:
        raise UserError(f"{printable(path)}: cannot be read ({error.strerror or error})") from None
    finally:
        os.close(fd)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UserError(f"{printable(path)}: not UTF-8 text (byte {error.start})") from None
    return safe_yaml_load(text, path)


def parse_overrides(pairs: list[str] | tuple[str, ...]) -> dict:
    """``["lr=1e-3", "tied=true"]`` → ``{"lr": 0.001, "tied": True}``.

    A value that is not valid YAML is kept as the text given; a value YAML would expand
    (an alias), duplicate or nest too deeply is refused.
    """
    out = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UserError(f"--set expects key=value, got {short_repr(pair)}")
        try:
            value = _parse(raw) if raw.strip() else None
        except _Refused as error:
            raise UserError(f"--set {shorten(key, 60)}: {error}") from None
        except yaml.YAMLError:
            value = raw
        if isinstance(value, str) and value.lower() in {"none", "null"}:
            value = None
        out[key] = value
    return out


def read_config_file(path: str | Path) -> dict:
    """A YAML mapping of options; a saved run's ``config.yaml`` also works (its ``config`` part)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"config file not found: {path}")
    data = read_yaml_file(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of option: value, got {type(data).__name__}")
    if isinstance(data.get("config"), dict):
        return dict(data["config"])
    return data


def build_config(model_cls, dataset, file_options: dict | None = None, overrides: dict | None = None,
                 use_recipe: bool = True):
    """The validated config of ``model_cls`` for ``dataset``.

    Beyond the model's own validation: option names must be text, every float must be
    finite (``lr=inf``, ``lr=1e309`` are refused), and the training split must hold at
    least ``latent_dim`` examples (the metrics fit a ``latent_dim``-dimensional subspace).
    With ``use_recipe=False`` (a saved, complete configuration rebuilt from a DataInfo) the
    recipe and the checks that need the whole dataset are skipped.
    """
    values = dict(model_cls.recipe(dataset)) if use_recipe else {}
    for source in (file_options or {}, overrides or {}):
        for key in source:
            if not isinstance(key, str):
                raise UserError(f"option names must be text, got {short_repr(key)} for {model_cls.name}")
        values.update(source)
    try:
        config = model_cls.Config(**values)
    except ValidationError as e:
        raise UserError(describe_validation_error(e, model_cls)) from None
    _check_finite(config, model_cls)
    if use_recipe:
        _check_enough_examples(config, dataset, model_cls)
        model_cls.check(config, dataset)
    return config


def _check_finite(config, model_cls) -> None:
    """Refuse NaN and infinite floats in any option (pydantic's ``gt=0`` lets ``inf`` through)."""
    for key, value in config:
        items = value if isinstance(value, (list, tuple)) else (value,)
        if any(isinstance(v, float) and not math.isfinite(v) for v in items):
            raise UserError(f"invalid value {key}={short_repr(value)} for {model_cls.name}: "
                            f"must be a finite number")


def _check_enough_examples(config, dataset, model_cls) -> None:
    latent_dim = getattr(config, "latent_dim", None)
    n_train = len(dataset.x_train)
    if isinstance(latent_dim, int) and n_train < latent_dim:
        raise UserError(f"{printable(dataset.name)}: the training split has {n_train} examples, fewer than "
                        f"latent_dim={latent_dim} of {model_cls.name}; use more data or --set latent_dim={n_train}")


def describe_validation_error(error: ValidationError, model_cls) -> str:
    """One line for the first problem pydantic found; values shown as at most ~80 characters."""
    first = error.errors()[0]
    key = ".".join(str(p) for p in first.get("loc", ())) or "?"
    if first.get("type") == "extra_forbidden":
        known = ", ".join(sorted(model_cls.Config.model_fields))
        return f"unknown option {short_repr(key)} for {model_cls.name}; known options: {known}"
    message = shorten(str(first.get("msg", "invalid")).lower(), 160)
    return f"invalid value {shorten(key, 60)}={short_repr(first.get('input'))} for {model_cls.name}: {message}"


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
