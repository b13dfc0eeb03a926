"""Where every stage reads and writes, relative to the repo root: declared once, here.

dvc.yaml repeats these paths as each stage's deps and outs; ``tests/test_dvc_yaml.py`` holds
the two together, so a stage never writes where DVC does not look.
"""

from __future__ import annotations

from pathlib import Path

DATA = Path("data")
METRICS = Path("metrics")
CACHE = Path(".qup-cache")  # resumable work (shards, training checkpoints), outside DVC's outputs

TRAIN_CANDIDATES = DATA / "problems/train_candidates.parquet"  # the train split before decontamination
TRAIN_PROBLEMS = DATA / "problems/train.parquet"  # after it: what every later stage trains on
TEST_PROBLEMS = DATA / "problems/test.parquet"
REJECTED_PROBLEMS = DATA / "problems/rejected.parquet"
CONTAMINATED = DATA / "problems/contaminated.parquet"  # every dropped training problem, with its match
BENCHMARKS = DATA / "benchmarks"
MODELS = DATA / "models"
MANIFEST = MODELS / "manifest.json"
NATIVE_SAMPLES = DATA / "samples/native.parquet"
REWARD_MODEL = DATA / "reward_model"  # the toy reward model; the slm_head one in its folder SLM_HEAD_RM
SLM_HEAD_RM = REWARD_MODEL / "slm_head"
ORACLE_HEAD_RM = REWARD_MODEL / "oracle_head"  # the same head on the Oracle's body

PROBLEMS_METRICS = METRICS / "problems.json"
BENCHMARKS_METRICS = METRICS / "benchmarks.json"
DECONTAMINATE_METRICS = METRICS / "decontaminate.json"
MODELS_METRICS = METRICS / "models.json"
NATIVE_METRICS = METRICS / "native.json"
REWARD_MODEL_METRICS = METRICS / "reward_model.json"
SUMMARY_METRICS = METRICS / "summary.json"

REPORTS = Path("reports")
SUMMARY_REPORT = REPORTS / "summary.md"
PLOTS = REPORTS / "plots"
LIVE = Path("dvclive/train")  # every train@ stage's dvclive folders, one per corpus (``training_curves``)


def benchmark(name: str) -> Path:
    """An evaluation benchmark's problems, in the problem schema."""
    return BENCHMARKS / f"{name}.parquet"


def benchmark_rejected(name: str) -> Path:
    return BENCHMARKS / "rejected" / f"{name}.parquet"


def corpus(name: str) -> Path:
    return DATA / "corpora" / f"{name}.parquet"


def attempts(name: str) -> Path:
    """Every attempt behind a corpus (a native sample, an Oracle reply, a written solution), with its drop reason."""
    return DATA / "attempts" / f"{name}.parquet"


def corpus_metrics(name: str) -> Path:
    """How a corpus was built: coverage and drop counts (the native samples' own figures: ``NATIVE_METRICS``)."""
    return METRICS / "corpora" / f"{name}.json"


def scores(name: str) -> Path:
    return DATA / "scores" / f"{name}.parquet"


def quality_metrics(name: str) -> Path:
    return METRICS / "quality" / f"{name}.json"


def checkpoints(name: str) -> Path:
    """Every checkpoint of one corpus: one per training objective and seed."""
    return DATA / "checkpoints" / name


def checkpoint(name: str, seed: int, objective: str) -> Path:
    """One training objective's checkpoint of a corpus for one seed (the primary objective's too)."""
    return checkpoints(name) / objective / f"seed-{seed}"


def train_metrics(name: str) -> Path:
    return METRICS / "train" / f"{name}.json"


def training_curves(name: str, objective: str | None = None, seed: int | None = None) -> Path:
    """dvclive's folder for one corpus (every objective and seed), for one objective's runs, or for one run."""
    if seed is not None and objective is None:
        raise ValueError("a run's curves are named by its objective and seed")
    folder = LIVE / name
    if objective is not None:
        folder /= objective
    return folder if seed is None else folder / f"seed-{seed}"


def eval_results(name: str) -> Path:
    """Per-problem, per-objective, per-seed, per-sample results of ``evaluate@<name>`` (``base``: the untouched
    SLM)."""
    return DATA / "eval" / f"{name}.parquet"


def eval_metrics(name: str) -> Path:
    return METRICS / "eval" / f"{name}.json"


def cache(stage: str) -> Path:
    return CACHE / stage


# the training curves of every corpus, seeds averaged, one tidy file per curve for DVC's top-level plots
TRAIN_LOSS_PLOT = PLOTS / "train_loss.json"
TRAIN_ACCURACY_PLOT = PLOTS / "train_token_accuracy.json"
