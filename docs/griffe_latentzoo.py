"""A griffe extension for latentzoo's API reference (loaded by mkdocstrings, see mkdocs.yml).

latentzoo's docstrings are written for ``help()`` and a terminal, in the reStructuredText habits
of scikit-learn and PyTorch; mkdocstrings renders Markdown. Two things are done at load time,
to the docstring text only (the source is untouched):

* reST markup without a Markdown meaning is rewritten: roles (``:class:`~a.B``` → ``B`` as code),
  literal-block markers (``text::`` → ``text:``), ``.. math::`` blocks and simple tables
  (kept as preformatted text); sections other than numpydoc's (``Shapes``) are left to griffe,
  which shows them as admonitions;
* a method that overrides a documented method without a docstring of its own inherits the
  base class's docstring (what :func:`inspect.getdoc` does for ``help()``).
"""

from __future__ import annotations

import re

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|obj|exc):`(~?)([^`]+)`")
TABLE_BORDER = re.compile(r"^\s*=+(\s+=+)+\s*$")


def _role(match: re.Match) -> str:
    tilde, target = match.groups()
    return f"``{target.rsplit('.', 1)[-1] if tilde else target}``"


def _table_end(lines: list[str], start: int) -> int:
    """Index of the closing border of the simple table whose first border is ``lines[start]``."""
    borders = [i for i in range(start, len(lines)) if TABLE_BORDER.match(lines[i])]
    # A simple table has three borders (top, under the header, bottom) or one pair without a header.
    return borders[2] if len(borders) >= 3 else borders[-1]


def markdown(text: str) -> str:
    """The docstring ``text`` with its reST-only markup rewritten as Markdown (see the module docstring)."""
    text = ROLE.sub(_role, text)
    lines, out, i = text.split("\n"), [], 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if TABLE_BORDER.match(line):                        # a simple table: keep it preformatted
            end = _table_end(lines, i)
            out += [""] + ["    " + row for row in lines[i:end + 1]] + [""]
            i = end + 1
            continue
        if stripped.startswith(".. math::"):                 # a displayed formula: keep it preformatted
            out += ["", "    " + stripped[len(".. math::"):].strip(), ""]
            i += 1
            continue
        if stripped == "::":
            line = ""
        elif stripped.endswith("::"):
            line = line[:-1]
        out.append(line)
        i += 1
    return "\n".join(out)


class LatentzooDocstrings(griffe.Extension):
    """Rewrite reST markup as Markdown, and give undocumented overrides their base method's docstring."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)

    def on_package(self, *, pkg: griffe.Module, **kwargs) -> None:
        for cls in _classes(pkg):
            for name, member in cls.members.items():
                if member.is_alias or member.docstring is not None or not member.is_function:
                    continue
                for base in _bases(cls):
                    inherited = base.members.get(name)
                    if inherited is not None and not inherited.is_alias and inherited.docstring is not None:
                        member.docstring = griffe.Docstring(inherited.docstring.value, parent=member,
                                                            parser=inherited.docstring.parser,
                                                            parser_options=inherited.docstring.parser_options)
                        break


def _classes(module: griffe.Module):
    for member in module.members.values():
        if member.is_alias:
            continue
        if member.is_module:
            yield from _classes(member)
        elif member.is_class:
            yield member


def _bases(cls: griffe.Class):
    try:
        return cls.mro()
    except (ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return []
