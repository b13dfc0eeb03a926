"""``qup plan``: what the stages about to run will ask of models, estimated before anything runs.

For every stage that ``dvc status`` finds changed, and every stage downstream of one, the plan gives
the model calls, prompt and completion tokens, the cost at ``costs.prices`` and the GPU-hours at
``costs.gpu_tokens_per_second``. Lengths are means over a small sample of the problems and of the
samples and corpora already built by the same models; what cannot be measured is assumed, and the
output says which is which. Params alone plan a study that has never run (a Numina-sized one with a
priced GPT-class Oracle, say): ``plan(params, pipeline_stages(params))``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import polars as pl
import yaml

from qup import paths
from qup.config import OracleCorpus, Params
from qup.engines import Usage, count_tokens
from qup.prompts import load_prompt

SAMPLE = 200  # problems and replies measured for a mean length
ASSUMED_SOLVE_RATE = 0.5  # share of train problems the SLM solves, until a native run of it shows the share
ASSUMED_QUESTION_TOKENS = 100  # a hub source's questions, which a plan does not download
JUDGE_REPLY_TOKENS = 100  # the judge prompt asks for a short justification and a score
PROBLEM_STAGES = {"problems", "benchmarks", "decontaminate"}  # stages that rewrite the problem files
NO_CALLS = "no model calls"


@dataclass(frozen=True)
class Row:
    """One stage's estimate; ``calls`` are completions generated, or sequences through the SLM (score, train)."""

    stage: str
    model: str | None = None
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    gpu_hours: float = 0.0
    note: str = NO_CALLS


@dataclass(frozen=True)
class Plan:
    rows: list[Row]
    notes: list[str]  # where every count and length came from


@dataclass(frozen=True)
class Measures:
    """The counts and mean lengths (tokens) the estimates multiply; None where nothing was measured."""

    n_train: int
    n_test: int
    n_eval: int  # test problems evaluated, benchmarks included
    solve_rate: float
    question: float
    solution: float | None
    slm_reply: float | None  # the SLM's tokens per sample
    trace: float | None  # an SLM sample counted locally, as it reads inside an Oracle prompt
    oracle_reply: dict[str, float]  # by Oracle stage

    @property
    def shared(self) -> int:
        return round(self.n_train * self.solve_rate)


# ---- which stages will run ----

def pipeline_graph(root: Path = Path("."), params: Params | None = None) -> tuple[list[str], set[tuple[str, str]]]:
    """Every stage of ``root``'s dvc.yaml in pipeline order, and each edge (upstream, downstream), from DVC's own
    index. ``params``: the stages those params generate (a preset's corpora, say), read in a scratch copy."""
    from dvc.repo import Repo

    with tempfile.TemporaryDirectory() as scratch:
        if params is not None:
            shutil.copy(root / "dvc.yaml", Path(scratch) / "dvc.yaml")
            (Path(scratch) / "params.yaml").write_text(yaml.safe_dump(params.model_dump(mode="json"), sort_keys=False))
            root = Path(scratch)
        with Repo(str(root), uninitialized=True) as repo:
            graph = repo.index.graph  # an edge runs from a stage to a stage it depends on
            written = {stage.name: i for i, stage in enumerate(repo.index.stages)}
            order = [stage.name for stage in
                     nx.lexicographical_topological_sort(graph.reverse(), key=lambda s: written[s.name])]
            edges = {(b.name, a.name) for a, b in graph.edges}
    return order, edges


def stages_to_run(root: Path = Path(".")) -> list[str]:
    """The stages ``dvc status`` finds changed, and every stage downstream of one, in pipeline order."""
    running = set(json.loads(_dvc(["status", "--json"], root) or "{}"))
    order, edges = pipeline_graph(root)
    while grown := {b for a, b in edges if a in running} - running:
        running |= grown
    return [stage for stage in order if stage in running]


def _dvc(args: list[str], root: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=root, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"`dvc {' '.join(args)}` failed in {root}: {done.stderr.strip()[-500:]}")
    return done.stdout


def pipeline_stages(params: Params, root: Path = Path(".")) -> list[str]:
    """Every stage of the pipeline at ``params``, in order: the plan of a study that has never run."""
    return pipeline_graph(root, params)[0]


# ---- what the estimates multiply ----

def _problem_rows(params: Params, fresh: bool, root: Path) -> tuple[pl.DataFrame | None, str]:
    """A sample of train problems (question, solution), and where it came from; None for a hub source."""
    train = root / paths.TRAIN_PROBLEMS
    if fresh and train.exists():
        frame = pl.read_parquet(train, columns=["question", "solution"])
        return frame.sample(min(SAMPLE, frame.height), seed=0), str(paths.TRAIN_PROBLEMS)
    cfg = params.problems
    if cfg.source == "toy":
        from qup.problems.toy import toy_rows

        rows = [row for _, row in toy_rows(SAMPLE, params.seed, params.toy)]
        return pl.DataFrame(rows).select("question", "solution"), "the toy world"
    if cfg.source == "file":
        from qup.problems.files import read_rows
        from qup.problems.validate import validate_rows

        rows = validate_rows(read_rows(root / cfg.file.path, cfg.file.type)[:SAMPLE], source="plan",
                             file=cfg.file.path, shape=cfg.file.shape, columns=cfg.file.columns).accepted
        return pl.DataFrame(rows, schema={"question": pl.String, "solution": pl.String}), cfg.file.path
    return None, f"hub dataset {cfg.hf.dataset or cfg.hf.preset}"


def _mean_tokens(texts: pl.Series) -> float | None:
    """Mean token count over a sample of ``texts``; None when there are none."""
    texts = texts.drop_nulls()
    if texts.is_empty():
        return None
    sample = texts.sample(min(texts.len(), SAMPLE), seed=0)
    return sum(count_tokens(t) for t in sample) / sample.len()


def _counts(params: Params, fresh: bool, root: Path) -> tuple[int, int, str]:
    if fresh and (root / paths.TRAIN_PROBLEMS).exists() and (root / paths.TEST_PROBLEMS).exists():
        n_train, n_test = (pl.scan_parquet(root / p).select(pl.len()).collect().item()
                           for p in (paths.TRAIN_PROBLEMS, paths.TEST_PROBLEMS))
        return n_train, n_test, "data/problems (up to date)"
    return params.problems.n_train, params.problems.n_test, "params problems.n_train and n_test (at most)"


def _eval_problems(params: Params, n_test: int) -> tuple[int, list[str]]:
    """Problems each checkpoint is evaluated on: the test split and every benchmark of known size."""
    from qup.problems.hub import BENCHMARKS

    n, notes = min(n_test, params.evaluate.max_problems or n_test), []
    for bench in params.evaluate.benchmarks:
        size = BENCHMARKS.get(bench.preset, {}).get("size")
        if bench.max_problems or size:
            n += min(bench.max_problems or size, size or bench.max_problems)
        else:
            notes.append(f"benchmark {bench.name}: size unknown without max_problems, not counted")
    return n, notes


def _slm_samples(params: Params, root: Path) -> pl.DataFrame | None:
    """The native samples already drawn from this SLM, if any."""
    path = root / paths.NATIVE_SAMPLES
    if not path.exists():
        return None
    samples = pl.read_parquet(path, columns=["problem_id", "response", "n_tokens", "correct", "model"])
    samples = samples.filter(pl.col("model") == params.models.slm.name)
    return samples if samples.height else None


def _oracle_reply(params: Params, stage: str, root: Path) -> float | None:
    """Mean Oracle reply over the corpus it already built, if the same Oracle built it."""
    path = root / paths.corpus(stage)
    if not path.exists():
        return None
    corpus = pl.read_parquet(path, columns=["response", "model"]).filter(pl.col("model") == params.models.oracle.name)
    return _mean_tokens(corpus["response"])


def _question_lengths(params: Params, fresh: bool, root: Path) -> tuple[float, float | None, str]:
    """Mean question and written-solution lengths, and a note on where they came from."""
    problems, where = _problem_rows(params, fresh, root)
    if problems is None:
        return ASSUMED_QUESTION_TOKENS, None, (f"questions: assumed {ASSUMED_QUESTION_TOKENS} tokens "
                                               f"({where}: not downloaded for a plan)")
    question = _mean_tokens(problems["question"])
    return question, _mean_tokens(problems["solution"]), (f"questions: mean {question:.0f} tokens over "
                                                          f"{problems.height} from {where}")


def _slm_lengths(params: Params, root: Path) -> tuple[float, float | None, float | None, str]:
    """The SLM's solve rate, its tokens per sample, a sample's locally counted length, and a note."""
    samples = _slm_samples(params, root)
    if samples is None:
        return ASSUMED_SOLVE_RATE, None, None, (
            f"SLM replies: assumed max_new_tokens/2 of each stage; solve rate assumed {ASSUMED_SOLVE_RATE:.2f} "
            f"(no samples of {params.models.slm.name} in {paths.NATIVE_SAMPLES})")
    solve_rate = float(samples.group_by("problem_id").agg(pl.col("correct").any())["correct"].mean())
    slm_reply = float(samples["n_tokens"].mean())
    return solve_rate, slm_reply, _mean_tokens(samples["response"]), (
        f"SLM replies: mean {slm_reply:.0f} of its tokens over {samples.height:,} samples in "
        f"{paths.NATIVE_SAMPLES}, which solve {solve_rate:.0%} of their problems")


def _oracle_lengths(params: Params, stages: list[str], root: Path) -> tuple[dict[str, float], list[str]]:
    """Each Oracle corpus's mean reply (measured, or oracle.max_new_tokens/2), noted where a stage uses it."""
    replies, notes = {}, []
    for corpus in oracle_corpora(params):
        measured = _oracle_reply(params, corpus, root)
        replies[corpus] = measured or params.oracle.max_new_tokens / 2
        if any(corpus in (s, s.partition("@")[2]) for s in stages):
            notes.append(f"{corpus} replies: " + (f"mean {measured:.0f} tokens in {paths.corpus(corpus)}" if measured
                                                  else f"assumed oracle.max_new_tokens/2 = {replies[corpus]:.0f}"))
    judged = {f"corpus@{name}" for name, spec in oracle_corpora(params).items() if spec.judge and spec.source}
    if judged & set(stages):
        notes.append(f"judge replies: assumed {JUDGE_REPLY_TOKENS} tokens (a short justification and a score)")
    return replies, notes


def measure(params: Params, stages: list[str], root: Path = Path(".")) -> tuple[Measures, list[str]]:
    """The counts and mean lengths for ``stages``, and a note on where each came from."""
    fresh = not PROBLEM_STAGES & set(stages)  # the problem files already hold what the stages will read
    n_train, n_test, counted = _counts(params, fresh, root)
    n_eval, benchmark_notes = _eval_problems(params, n_test)
    question, solution, question_note = _question_lengths(params, fresh, root)
    solve_rate, slm_reply, trace, slm_note = _slm_lengths(params, root)
    oracle_reply, oracle_notes = _oracle_lengths(params, stages, root)
    measures = Measures(n_train, n_test, n_eval, solve_rate, question, solution, slm_reply, trace, oracle_reply)
    notes = [f"{n_train:,} train and {n_test:,} test problems: {counted}", *benchmark_notes, question_note, slm_note,
             *oracle_notes]
    return measures, notes


# ---- each stage's estimate ----

def _overhead(spec: str) -> int:
    """Tokens of a prompt template's own text, its fields left empty."""
    prompt = load_prompt(spec)
    return count_tokens(prompt.render(**{f: "" for f in prompt.fields}))


def _row(stage: str, params: Params, role: str, usage: Usage, note: str, *, forward: bool = False) -> Row:
    """A stage's row for the model of ``role``: an API model with a price costs money, a local one GPU time
    (``forward``: sequences only read, not generated, every token counted)."""
    name, engine = getattr(params.models, role).name, getattr(params.engines, role).engine
    price = None if forward else params.costs.prices.get(name)
    tokens = usage.prompt_tokens + usage.completion_tokens if forward else usage.completion_tokens
    local = price is None and engine != "symbolic"
    gpu_hours = tokens / params.costs.gpu_tokens_per_second / 3600 if local else 0.0
    return Row(stage, name, usage.calls, usage.prompt_tokens, usage.completion_tokens, usage.cost(price),
               gpu_hours, note)


def _generate(requests: int, n: int, prompt: float, reply: float) -> Usage:
    """``requests`` requests of ``n`` samples each: a prompt of ``prompt`` tokens per request, ``reply`` per sample."""
    return Usage(calls=requests * n, prompt_tokens=round(requests * prompt),
                 completion_tokens=round(requests * n * reply))


def _slm_reply(m: Measures, max_new_tokens: int) -> float:
    return m.slm_reply if m.slm_reply is not None else max_new_tokens / 2


def _native(stage: str, params: Params, m: Measures) -> Row:
    cfg = params.native
    usage = _generate(m.n_train, cfg.k, _overhead(cfg.prompt) + m.question, _slm_reply(m, cfg.max_new_tokens))
    return _row(stage, params, "slm", usage, f"{m.n_train:,} problems × k={cfg.k}, one request each")


def oracle_corpora(params: Params) -> dict[str, OracleCorpus]:
    """The corpora of params ``corpora`` that an Oracle writes."""
    return {name: spec for name, spec in params.corpora.items() if spec.kind == "oracle"}


def _corpus(stage: str, params: Params, m: Measures) -> Row:
    name = stage.partition("@")[2]
    spec = params.corpora[name]
    if spec.kind != "oracle":
        return Row(stage, note=f"picks from what is built (kind {spec.kind}): no model calls")
    reply, refining = m.oracle_reply[name], spec.source is not None
    trace = (m.trace or params.native.max_new_tokens / 2) if refining else 0.0
    usage = _generate(m.shared, 1, _overhead(spec.prompt) + m.question + trace, reply)
    note = f"{m.shared:,} shared problems, one request each"
    if refining and spec.judge:
        judge = _overhead(params.oracle.judge_prompt) + m.question + trace + reply
        usage += _generate(m.shared, 1, judge, JUDGE_REPLY_TOKENS)
        note += ", plus a judge call each (at most)"
    return _row(stage, params, "oracle", usage, note)


def _models(stage: str, params: Params, m: Measures) -> Row:
    if params.models.slm.name != "toy":
        return Row(stage, note="pins the models in a manifest: no model calls")
    cfg = params.models.eval
    usage = _generate(m.n_test, 1, m.question, _slm_reply(m, cfg.max_new_tokens))
    usage += _generate(m.n_test, cfg.k, m.question, _slm_reply(m, cfg.max_new_tokens))
    return _row(stage, params, "slm", usage, f"trains the toy SLM, then {m.n_test:,} test problems × (1 + k={cfg.k})")


def _evaluate(stage: str, params: Params, m: Measures) -> Row:
    cfg = params.evaluate
    checkpoints = 1 if stage == "evaluate_base" else len(params.train.seeds) * len(params.train.run_objectives)
    prompt, reply = _overhead(params.native.prompt) + m.question, _slm_reply(m, cfg.max_new_tokens)
    requests = m.n_eval * checkpoints
    usage = _generate(requests, 1, prompt, reply) + _generate(requests, cfg.k, prompt, reply)
    seeds = f" × {checkpoints} checkpoints" if checkpoints > 1 else ""
    return _row(stage, params, "slm", usage, f"{m.n_eval:,} problems × (1 greedy + k={cfg.k}){seeds}")


def _trace_length(params: Params, m: Measures, corpus: str) -> float:
    """Tokens of one sequence of ``corpus``: the prompt and its trace."""
    kind = params.corpora[corpus].kind
    if kind == "native":
        trace = m.trace or params.native.max_new_tokens / 2
    elif kind == "reference" and m.solution is not None:
        trace = m.solution
    else:
        trace = m.oracle_reply.get(corpus, params.oracle.max_new_tokens / 2)
    return _overhead(params.native.prompt) + m.question + trace


def _score(stage: str, params: Params, m: Measures) -> Row:
    corpus, passes = stage.partition("@")[2], 1 + len(params.scoring.reward_models)
    usage = Usage(calls=m.shared * passes, prompt_tokens=round(m.shared * passes * _trace_length(params, m, corpus)))
    models = ", ".join(r.name for r in params.scoring.reward_models) or "none"
    return _row(stage, params, "slm", usage, f"{m.shared:,} traces × {passes} forward passes (NLL; reward models: "
                f"{models})", forward=True)


def _train(stage: str, params: Params, m: Measures) -> Row:
    cfg = params.train
    examples = min(cfg.examples or m.shared, m.shared)
    runs = len(cfg.seeds) * len(cfg.run_objectives)
    sequences = round(examples * cfg.epochs) * runs
    usage = Usage(calls=sequences, prompt_tokens=round(sequences * _trace_length(params, m, stage.partition("@")[2])))
    return _row(stage, params, "slm", usage,
                f"{examples:,} examples × epochs={cfg.epochs:g} × {runs} runs (seeds × objectives), "
                "forward and backward",
                forward=True)


ESTIMATES = {"native": _native, "corpus": _corpus, "models": _models,
             "evaluate_base": _evaluate, "evaluate": _evaluate, "score": _score, "train": _train}


def plan(params: Params, stages: list[str], root: Path = Path(".")) -> Plan:
    """Each stage's estimate (a stage without model calls listed as such), and where the numbers came from."""
    if not stages:
        return Plan([], [])
    m, notes = measure(params, stages, root)
    rows = [ESTIMATES[kind](stage, params, m) if (kind := stage.partition("@")[0]) in ESTIMATES else Row(stage)
            for stage in stages]
    if any(stage.startswith(("corpus@", "score@", "train@")) for stage in stages):
        notes.append(f"shared problems: {m.shared:,} (train problems × solve rate {m.solve_rate:.2f})")
    notes.append("tokens: counted as words, digit groups and symbols (close to a BPE tokenizer), the SLM's replies "
                 "by its own tokenizer where measured")
    notes.append(f"GPU-hours: generated tokens at costs.gpu_tokens_per_second = {params.costs.gpu_tokens_per_second:g} "
                 "on one GPU (score and train: every token read, at the same rate); none for a priced API model "
                 "or the symbolic Oracle")
    return Plan(rows, notes)


# ---- the table ----

def _usd(amount: float) -> str:
    return f"${amount:,.2f}"


def render(result: Plan) -> str:
    """The plan as a plain-text table, its totals, and the notes."""
    if not result.rows:
        return "Every stage is up to date: nothing will run."
    header = ("stage", "model", "calls", "prompt tokens", "completion tokens", "cost", "GPU-h", "what")
    lines = [header]
    for r in result.rows:
        if r.calls:
            lines.append((r.stage, r.model or "", f"{r.calls:,}", f"{r.prompt_tokens:,}", f"{r.completion_tokens:,}",
                          _usd(r.cost_usd), f"{r.gpu_hours:.2f}", r.note))
        else:
            lines.append((r.stage, "", "", "", "", "", "", r.note))
    cost, hours = sum(r.cost_usd for r in result.rows), sum(r.gpu_hours for r in result.rows)
    lines.append(("total", "", "", "", "", _usd(cost), f"{hours:.2f}", ""))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    right = {2, 3, 4, 5, 6}
    table = ["  ".join(cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in
                       enumerate(zip(line, widths))).rstrip() for line in lines]
    return "\n".join([*table, "", "Where the numbers come from:", *(f"- {note}" for note in result.notes)])
