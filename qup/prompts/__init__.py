"""Versioned prompt templates: ``<name>.v<N>.txt`` files with ``{field}`` placeholders.

A template's ``name@vN`` goes into the provenance of every record made with it; changing a
template's wording means adding the next version, never editing one in place.
"""

from __future__ import annotations

import re
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

    def render(self, **fields: str) -> str:
        return self.template.format(**fields)


@cache
def load_prompt(spec: str) -> Prompt:
    """``name`` (its newest version) or ``name@vN``."""
    name, _, version = spec.partition("@v")
    versions = {int(m["version"]): p for p in HERE.glob(f"{name}.v*.txt") if (m := _FILE.fullmatch(p.name))}
    if not versions:
        known = sorted({m["name"] for p in HERE.glob("*.txt") if (m := _FILE.fullmatch(p.name))})
        raise ValueError(f"unknown prompt {name!r}; known: {', '.join(known)}")
    chosen = int(version) if version else max(versions)
    if chosen not in versions:
        raise ValueError(f"prompt {name!r} has no version {chosen}; it has {sorted(versions)}")
    return Prompt(name, chosen, versions[chosen].read_text(encoding="utf-8").rstrip("\n"))
