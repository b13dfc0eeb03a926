"""The house rules on imports: engines know nothing of scoring, qup nothing of stages, and generic code
nothing of the toy world, which plugs in through registries."""

from pathlib import Path

from qup.imports import ROOT, imports, module_name

QUP = ROOT / "qup"

# Registries: each imports a world's code only inside the entry function that params pick, as
# qup/engines/registry.py imports each engine, so that loading the registry loads no world.
TOY_REGISTRIES = {
    "qup/corpora/checks.py",  # trace checks: the exact check that a refinement kept its source's operations
    "qup/model_sources.py",  # model sources: the toy SLM, trained by the models stage
    "qup/scoring/kinds.py",  # reward-model kinds: the toy reward model
    "qup/problems/benchmarks.py",  # benchmark sources: the toy world's out-of-distribution sets
}
# The toy world behind a generic protocol, each imported only lazily, by a registry.
TOY_ADAPTERS = {
    "qup/engines/symbolic.py",  # the toy Oracle as the symbolic engine (qup/engines/registry.py)
    "qup/problems/toy.py",  # the toy world as a problem source (qup/problems/__init__.py)
}
# Left out of this rule: the toy world's params sections, validated by its own classes, and the
# performance benchmarks (qup/bench.py), which time qup on toy problems.
TOY_UNCHECKED = ("qup/config/", "qup/bench.py")


def local_imports(path: Path) -> set[str]:
    return {i.module for i in imports(path.relative_to(ROOT))}


def test_no_engine_imports_scoring():
    for path in (QUP / "engines").glob("*.py"):
        assert not any(m.startswith("qup.scoring") for m in local_imports(path)), path.name


def test_qup_never_imports_stages():
    for path in QUP.rglob("*.py"):
        assert not any(m == "stages" or m.startswith("stages.") for m in local_imports(path)), path


def _files() -> list[str]:
    return sorted(p.relative_to(ROOT).as_posix() for p in [*QUP.rglob("*.py"), *(ROOT / "stages").rglob("*.py")])


def test_only_registries_import_the_toy_world():
    for file in _files():
        if file.startswith(("qup/toy/", *TOY_UNCHECKED)) or file in TOY_ADAPTERS:
            continue
        toy = [i for i in imports(Path(file)) if i.module == "qup.toy" or i.module.startswith("qup.toy.")]
        if file in TOY_REGISTRIES:
            eager = sorted(i.module for i in toy if not i.lazy)
            assert not eager, f"{file} is a registry: it must import {eager} inside the entry that uses it"
        else:
            assert not toy, (f"{file} imports the toy world ({', '.join(sorted(i.module for i in toy))}); "
                             "reach it through a registry instead")


def test_toy_adapters_are_imported_only_lazily():
    adapters = {module_name(Path(file)) for file in TOY_ADAPTERS}
    for file in _files():
        eager = sorted(i.module for i in imports(Path(file)) if i.module in adapters and not i.lazy)
        assert not eager, f"{file} imports {eager} at module level; reach it through its registry"
