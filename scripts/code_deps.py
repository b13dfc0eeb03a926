"""Rewrite the code deps of every stage in dvc.yaml to the import closure of its stage module.

    python scripts/code_deps.py [DVC_YAML] [--check]

A stage's code deps are its dep entries under ``qup/`` and ``stages/``; they become the entries
``qup.imports.dep_entries`` gives for the closure of the module its ``cmd`` runs with ``python -m``
(for ``foreach``/``matrix`` stages, the ``cmd`` of ``do``), in the place of the first old one. Every
other dep, param, out, key and comment stays as it is, in its place. ``--check`` changes nothing: it lists
each stage's missing and extra code deps and exits 1 when there are any.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ruamel.yaml import YAML

from qup.imports import PACKAGES, closure, dep_entries, run_module


def is_code(dep) -> bool:
    return isinstance(dep, str) and dep.startswith(tuple(f"{package}/" for package in PACKAGES))


def with_code_deps(deps: list, code: list[str]) -> list:
    """``deps`` with its code entries replaced by ``code``, put where the first code entry was (else first)."""
    at = next((i for i, dep in enumerate(deps) if is_code(dep)), 0)
    others = [dep for dep in deps if not is_code(dep)]
    kept_before = sum(1 for dep in deps[:at] if not is_code(dep))
    return others[:kept_before] + code + others[kept_before:]


def code_deps(cmd: str | list[str]) -> list[str] | None:
    """The code deps a stage running ``cmd`` needs: stage modules first, then qup's; None when ``cmd``
    runs no stage module."""
    module = run_module(" && ".join(cmd) if isinstance(cmd, list) else cmd)
    if module is None:
        return None
    return sorted(dep_entries(closure(module)), key=lambda entry: (not entry.startswith("stages/"), entry))


def round_trip() -> YAML:
    """A YAML reader and writer that keeps dvc.yaml's comments, order and layout."""
    rt = YAML()
    rt.indent(mapping=2, sequence=4, offset=2)
    rt.width = 10_000
    return rt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dvc_yaml", nargs="?", default="dvc.yaml", type=Path)
    parser.add_argument("--check", action="store_true", help="list missing and extra code deps; change nothing")
    args = parser.parse_args(argv)
    rt = round_trip()
    document = rt.load(args.dvc_yaml.read_text())
    drift, broken = [], []
    for name, stage in document["stages"].items():
        body = stage.get("do", stage)
        try:
            wanted = code_deps(body["cmd"])
        except LookupError as err:
            broken.append(f"{name}: {err}")
            continue
        if wanted is None:
            continue
        deps = body.get("deps", [])
        have = [dep for dep in deps if is_code(dep)]
        missing, extra = [d for d in wanted if d not in have], [d for d in have if d not in wanted]
        if missing or extra:
            drift.append(f"{name}: missing {missing or 'nothing'}; extra {extra or 'nothing'}")
        deps[:] = with_code_deps(list(deps), wanted)
    if broken:
        print("\n".join(broken), file=sys.stderr)
        return 1
    if args.check:
        print("\n".join(drift) or f"{args.dvc_yaml}: every stage's code deps are its import closure")
        return 1 if drift else 0
    with args.dvc_yaml.open("w") as out:
        rt.dump(document, out)
    print(f"{args.dvc_yaml}: rewrote the code deps of {len(drift)} stages" if drift else
          f"{args.dvc_yaml}: nothing to change")
    return 0


if __name__ == "__main__":
    sys.exit(main())
