"""dvc.yaml against params and qup.paths: every corpus gets every stage (its corpus@ stage too), and every
stage declares exactly where its code reads and writes (a path that drifts from its dep leaves stale results)."""

from pathlib import Path

import pytest
from dvc.repo import Repo

from qup import paths
from qup.config import load_params
from qup.corpora.pool import CANDIDATES, built_dir

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def stages():
    with Repo(str(REPO)) as repo:
        return {stage.addressing: {"outs": {o.def_path for o in stage.outs}, "deps": {d.def_path for d in stage.deps}}
                for stage in repo.index.stages}


@pytest.fixture(scope="module")
def corpora():
    return load_params(REPO / "params.yaml").corpora


def expected_outs(corpora: list[str]) -> dict[str, set[Path]]:
    """What each stage's code writes, by qup.paths."""
    outs = {
        "problems": {paths.TRAIN_CANDIDATES, paths.TEST_PROBLEMS, paths.REJECTED_PROBLEMS, paths.PROBLEMS_METRICS},
        "benchmarks": {paths.BENCHMARKS, paths.BENCHMARKS_METRICS},
        "decontaminate": {paths.TRAIN_PROBLEMS, paths.CONTAMINATED, paths.DECONTAMINATE_METRICS},
        "models": {paths.MODELS, paths.MODELS_METRICS},
        "native": {paths.NATIVE_SAMPLES, paths.NATIVE_METRICS},
        "reward_model": {paths.REWARD_MODEL, paths.REWARD_MODEL_METRICS},
        "evaluate_base": {paths.eval_results("base"), paths.eval_metrics("base")},
        "report": {paths.SUMMARY_REPORT, paths.SUMMARY_METRICS, paths.PLOTS / "corpora.json",
                   paths.PLOTS / "utility.png", paths.PLOTS / "reward_vs_accuracy.png",
                   paths.PLOTS / "perplexity_vs_accuracy.png", paths.TRAIN_LOSS_PLOT, paths.TRAIN_ACCURACY_PLOT},
    }
    for name in corpora:
        outs[f"candidates@{name}"] = {built_dir(name)}
        outs[f"corpus@{name}"] = {paths.corpus(name), paths.attempts(name), paths.corpus_metrics(name)}
        outs[f"score@{name}"] = {paths.scores(name), paths.quality_metrics(name)}
        outs[f"train@{name}"] = {paths.checkpoints(name), paths.train_metrics(name), paths.training_curves(name)}
        outs[f"evaluate@{name}"] = {paths.eval_results(name), paths.eval_metrics(name)}
    return outs


def test_every_corpus_has_its_producing_score_train_and_evaluate_stages(stages, corpora):
    for name in corpora:
        producer = [s for s, spec in stages.items() if paths.corpus(name).as_posix() in spec["outs"]]
        assert producer == [f"corpus@{name}"], f"corpus {name}: produced by {producer or 'no stage'}"
        for stage in (f"score@{name}", f"train@{name}", f"evaluate@{name}"):
            assert stage in stages, f"corpus {name} in params has no {stage} stage in dvc.yaml"
    assert "evaluate_base" in stages


def test_each_stage_declares_exactly_the_outputs_its_code_writes(stages, corpora):
    expected = expected_outs(corpora)
    assert set(stages) == set(expected)
    for stage, outs in expected.items():
        assert stages[stage]["outs"] == {p.as_posix() for p in outs}, stage


def _covered(path: Path, deps: set[str]) -> bool:
    return any(path == Path(d) or Path(d) in path.parents for d in deps)


def test_each_stage_depends_on_what_its_code_reads(stages, corpora):
    reads = {
        "decontaminate": [paths.TRAIN_CANDIDATES, paths.TEST_PROBLEMS, paths.BENCHMARKS],
        "models": [paths.TRAIN_PROBLEMS, paths.TEST_PROBLEMS],
        "native": [paths.TRAIN_PROBLEMS, paths.MANIFEST],
        "reward_model": [paths.TRAIN_PROBLEMS, paths.TEST_PROBLEMS],
        "evaluate_base": [paths.TEST_PROBLEMS, paths.BENCHMARKS, paths.MANIFEST],
        "report": [paths.eval_metrics("base"), paths.eval_results("base"), paths.LIVE],
    }
    for name in corpora:
        reads[f"candidates@{name}"] = [paths.TRAIN_PROBLEMS, paths.NATIVE_SAMPLES]
        reads[f"corpus@{name}"] = [CANDIDATES, paths.MANIFEST, paths.REWARD_MODEL]
        reads[f"score@{name}"] = [paths.corpus(name), paths.MANIFEST, paths.REWARD_MODEL, paths.NATIVE_SAMPLES]
        reads[f"train@{name}"] = [paths.MANIFEST, *(paths.corpus(c) for c in corpora)]
        reads[f"evaluate@{name}"] = [paths.TEST_PROBLEMS, paths.BENCHMARKS, paths.MANIFEST,
                                     paths.checkpoint(name, 0, "sft")]
        reads["report"] += [paths.quality_metrics(name), paths.eval_results(name), paths.eval_metrics(name),
                            paths.corpus_metrics(name)]
    for stage, needed in reads.items():
        missing = [p.as_posix() for p in needed if not _covered(p, stages[stage]["deps"])]
        assert not missing, f"{stage} reads {missing} but does not depend on them"


def test_every_data_dependency_is_some_stages_output(stages):
    produced = set().union(*(spec["outs"] for spec in stages.values()))
    for stage, spec in stages.items():
        for dep in spec["deps"]:
            if dep.startswith(("data/", "metrics/")) and not dep.startswith("data/raw"):
                assert _covered(Path(dep), produced) or any(Path(o).parent == Path(dep) for o in produced), \
                    f"{stage} depends on {dep}, which no stage writes"
