"""Code deps from the import graph: every stage of dvc.yaml depends on each module its stage module
imports (transitively, lazy imports and package ``__init__.py`` files included), and qup has no
import cycle; a library edit then always reruns what it touches."""

import runpy
import shutil
from pathlib import Path

import yaml
from dvc.repo import Repo

from qup.imports import closure, cycles, dep_entries, imports, module_name, run_module

REPO = Path(__file__).resolve().parents[1]
code_deps_main = runpy.run_path(str(REPO / "scripts" / "code_deps.py"))["main"]


def dvc_stages(root: Path) -> dict[str, tuple[str, set[str]]]:
    """Each stage of the dvc.yaml in ``root``, by name: its cmd and its deps."""
    with Repo(str(root)) as repo:
        return {stage.name: (stage.cmd, {d.def_path for d in stage.deps}) for stage in repo.index.stages}


def uncovered(stages: dict[str, tuple[str, set[str]]]) -> list[str]:
    """For each stage, each module of its closure that no dep covers (by its file or a folder above it)."""
    found = []
    for address, (cmd, deps) in stages.items():
        module = run_module(cmd)
        if module is None:
            found.append(f"{address}: its cmd {cmd!r} runs no stage module with python -m")
            continue
        for file in sorted(closure(module)):
            if not any(file == Path(d) or Path(d) in file.parents for d in deps):
                found.append(f"{address} imports {module_name(file)} ({file.as_posix()}) but does not depend on it")
    return found


def test_every_stage_depends_on_its_import_closure():
    missing = uncovered(dvc_stages(REPO))
    assert not missing, "run scripts/code_deps.py:\n" + "\n".join(missing)


def test_a_removed_code_dep_is_named(tmp_path):
    Repo.init(str(tmp_path), no_scm=True)
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    assert code_deps_main([str(tmp_path / "dvc.yaml")]) == 0
    assert uncovered(dvc_stages(tmp_path)) == []
    assert code_deps_main([str(tmp_path / "dvc.yaml"), "--check"]) == 0

    document = yaml.safe_load((tmp_path / "dvc.yaml").read_text())
    deps = document["stages"]["train"]["do"]["deps"]
    removed = next(d for d in reversed(deps) if d.startswith("qup/") and d.endswith(".py"))
    deps.remove(removed)
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    missing = uncovered(dvc_stages(tmp_path))
    assert missing and all(m.startswith("train@") and f"({removed})" in m for m in missing), missing
    assert code_deps_main([str(tmp_path / "dvc.yaml"), "--check"]) == 1


def test_no_import_cycle_among_qup_modules():
    found = cycles()
    assert not found, "import cycles: " + "; ".join(" <-> ".join(group) for group in found)


def test_graph_reads_every_kind_of_import(tmp_path):
    files = {
        "qup/__init__.py": "",
        "qup/a.py": "from qup import b\n\ndef f():\n    import qup.c.d\n",
        "qup/b.py": "import os\nfrom qup.c import NAME\n",
        "qup/c/__init__.py": "NAME = 1\n",
        "qup/c/d.py": "from ..a import f\n",
        "qup/unused.py": "",
    }
    for file, text in files.items():
        (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / file).write_text(text)
    assert {(i.module, i.lazy) for i in imports(Path("qup/a.py"), tmp_path)} == {("qup.b", False), ("qup.c.d", True)}
    assert {i.module for i in imports(Path("qup/b.py"), tmp_path)} == {"qup.c"}
    reached = closure("qup.b", tmp_path)
    assert reached == {Path("qup/__init__.py"), Path("qup/b.py"), Path("qup/c/__init__.py")}
    assert cycles(tmp_path) == [["qup.a", "qup.c.d"]]
    assert dep_entries(closure("qup.a", tmp_path), tmp_path) == ["qup/__init__.py", "qup/a.py", "qup/b.py", "qup/c"]
