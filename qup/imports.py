"""A static import graph of the ``qup`` package and the ``stages`` modules, read with ast (nothing is imported).

Every ``import`` and ``from ... import`` counts, those inside functions too: a lazy import still runs
when its function does. Importing a module also runs the ``__init__.py`` of every package above it,
so a closure holds those as well. Modules outside ``qup`` and ``stages`` are left out.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("qup", "stages")
_RUN_MODULE = re.compile(r"(?:^|\s)-m\s+([\w.]+)")


@dataclass(frozen=True)
class Import:
    """One local module a file imports; ``lazy`` when the import sits inside a function."""

    module: str
    lazy: bool


def module_file(name: str, root: Path = ROOT) -> Path | None:
    """The file (relative to ``root``) of module ``name``: ``a/b.py`` or ``a/b/__init__.py``; None when not local."""
    if name.split(".")[0] not in PACKAGES:
        return None
    base = Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if (root / candidate).is_file():
            return candidate
    return None


def run_module(cmd: str) -> str | None:
    """The local module a command line runs with ``-m`` (``python -m stages.train x`` -> ``stages.train``)."""
    found = _RUN_MODULE.search(cmd)
    return found[1] if found and found[1].split(".")[0] in PACKAGES else None


def module_name(file: Path) -> str:
    """``qup/x/y.py`` -> ``qup.x.y``; ``qup/x/__init__.py`` -> ``qup.x``."""
    parts = file.with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _targets(node: ast.Import | ast.ImportFrom, importer: str, root: Path) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module
    if node.level:  # relative: from the importer's package, one level up per extra dot
        package = importer if module_file(importer, root).name == "__init__.py" else importer.rpartition(".")[0]
        base = ".".join(filter(None, [package.rsplit(".", node.level - 1)[0], node.module]))
    # `from qup.x import y` imports the submodule qup/x/y.py when there is one, else the name y of qup.x
    return [f"{base}.{alias.name}" if module_file(f"{base}.{alias.name}", root) else base for alias in node.names]


def imports(file: Path, root: Path = ROOT) -> set[Import]:
    """The local modules that ``file`` (relative to ``root``) imports, each marked lazy or not."""
    importer = module_name(file)
    found: set[Import] = set()

    def visit(node: ast.AST, lazy: bool) -> None:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.update(Import(name, lazy) for name in _targets(node, importer, root) if module_file(name, root))
        inside = lazy or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    visit(ast.parse((root / file).read_text()), False)
    return found


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Every local module, by name, with the local modules it imports."""
    files = sorted(f.relative_to(root) for package in PACKAGES for f in (root / package).rglob("*.py"))
    return {module_name(f): {i.module for i in imports(f, root)} for f in files}


def _reachable(starts: set[str], edges: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(starts)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(edges.get(name, ()))
    return seen


def closure(module: str, root: Path = ROOT) -> set[Path]:
    """The files (relative to ``root``) that importing ``module`` can run: everything it imports,
    transitively, with the ``__init__.py`` of each package on the way."""
    if module_file(module, root) is None:
        raise LookupError(f"{module}: no such module under {root}")
    edges = graph(root)
    runs = {name: targets | {p for p in edges if name.startswith(f"{p}.")} for name, targets in edges.items()}
    return {module_file(name, root) for name in _reachable({module}, runs)}


def cycles(root: Path = ROOT, package: str = "qup") -> list[list[str]]:
    """The import cycles among ``package``'s modules: each group of modules that import one another,
    directly or not, sorted by name."""
    edges = {name: {t for t in targets if t.split(".")[0] == package} for name, targets in graph(root).items()
             if name.split(".")[0] == package}
    reach = {name: _reachable(targets, edges) for name, targets in edges.items()}
    groups = {frozenset(n for n in reach[name] if name in reach[n]) for name in edges if name in reach[name]}
    return sorted(sorted(group) for group in groups)


def dep_entries(files: set[Path], root: Path = ROOT) -> list[str]:
    """The fewest dvc.yaml dep entries that cover ``files``: a folder when every Python file under it
    is in ``files`` (it then also covers the folder's data, such as prompt templates), else the file."""

    def covered(folder: Path) -> bool:
        return all(f.relative_to(root) in files for f in (root / folder).rglob("*.py"))

    entries = set()
    for file in files:
        folders = [p for p in reversed(file.parents) if p != Path(".")]
        entries.add(next((p for p in folders if p.parts[0] in PACKAGES and p.as_posix() not in PACKAGES
                          and covered(p)), file).as_posix())
    return sorted(entries)
