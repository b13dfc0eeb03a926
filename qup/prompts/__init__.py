"""Versioned prompt templates: ``<name>.v<N>.txt`` files with ``{field}`` placeholders.

A template's ``name@vN`` goes into the provenance of every record made with it; changing a
template's wording means adding the next version, never editing one in place.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import cache
from pathlib import Path

HERE = Path(__file__).parent
_FILE = re.compile(r"(?P<name>[a-z_]+)\.v(?P<version>\d+)\.txt")


@dataclass(frozen=True)
class Prompt:
    name: str
    version: int
    template: str

    @property
    def id(self) -> str:
        return f"{self.name}@v{self.version}"

    @property
    def fields(self) -> list[str]:
        return [field for _, field, _, _ in string.Formatter().parse(self.template) if field]

    def render(self, **fields: str) -> str:
        return self.template.format(**fields)

    def parse(self, text: str) -> dict[str, str] | None:
        """The fields a rendering of this template was given, or None when ``text`` is not one."""
        match = _pattern(self.template).fullmatch(text)
        return match.groupdict() if match else None


@cache
def _pattern(template: str) -> re.Pattern:
    parts = []
    for literal, field, _, _ in string.Formatter().parse(template):
        parts.append(re.escape(literal))
        if field:
            parts.append(f"(?P<{field}>.*?)")
    return re.compile("".join(parts), re.DOTALL)


def prompt_names(prefix: str = "") -> list[str]:
    """The name of every prompt starting with ``prefix``, sorted."""
    return sorted({m["name"] for p in HERE.glob(f"{prefix}*.v*.txt") if (m := _FILE.fullmatch(p.name))})


def prompt_versions(name: str) -> list[Prompt]:
    """Every version of the prompt ``name``, oldest first."""
    versions = sorted(int(m["version"]) for p in HERE.glob(f"{name}.v*.txt") if (m := _FILE.fullmatch(p.name)))
    return [load_prompt(f"{name}@v{v}") for v in versions]


@cache
def load_prompt(spec: str) -> Prompt:
    """``name`` (its newest version) or ``name@vN``."""
    name, _, version = spec.partition("@v")
    versions = {int(m["version"]): p for p in HERE.glob(f"{name}.v*.txt") if (m := _FILE.fullmatch(p.name))}
    if not versions:
        raise ValueError(f"unknown prompt {name!r}; known: {', '.join(prompt_names())}")
    chosen = int(version) if version else max(versions)
    if chosen not in versions:
        raise ValueError(f"prompt {name!r} has no version {chosen}; it has {sorted(versions)}")
    return Prompt(name, chosen, versions[chosen].read_text(encoding="utf-8").rstrip("\n"))
