"""The house rules on imports: engines know nothing of scoring, and qup nothing of stages."""

import ast
from pathlib import Path

QUP = Path(__file__).resolve().parents[1] / "qup"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_engine_imports_scoring():
    for path in (QUP / "engines").glob("*.py"):
        assert not any(m.startswith("qup.scoring") for m in imported_modules(path)), path.name


def test_qup_never_imports_stages():
    for path in QUP.rglob("*.py"):
        assert not any(m == "stages" or m.startswith("stages.") for m in imported_modules(path)), path
