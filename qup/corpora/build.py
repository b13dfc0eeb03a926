"""Building a corpus over the shared problem set: ask the Oracle, grade, guard against drift, judge.

Every corpus holds at most one trace per problem of the shared set (the problems the SLM solved
at least once). Attempts that fall out are kept in an attempts table with their reason:
``refused`` (the Oracle could not read the trace), ``error``, ``filtered`` or ``aborted`` (the request
failed: its response is the failure's message), ``truncated`` (the reply ran out of tokens),
``no_answer``, ``wrong_answer``, ``not_a_solution`` (a model's reply that talks about the attempt it was
shown or shows no working: ``qup.corpora.shape``) or ``drift_guard`` (a refinement too far from its source
trace).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from qup.config import Price
from qup.corpora.checks import same_operations
from qup.corpora.drift import edit_distance, verbatim_prefix
from qup.corpora.judge import parse_judge_score
from qup.corpora.shape import not_a_solution
from qup.engines import FAILED, USAGE_FIELDS, Engine, Sampling, Usage, check_failures, count_tokens
from qup.grading import extract_answer, grade_many
from qup.prompts import Prompt
from qup.records import corpus_frame
from qup.shards import run_sharded

DROP_REASONS = ("refused", "no_answer", "wrong_answer", "not_a_solution", "drift_guard", "error", "filtered", "aborted",
                "truncated")
# a failed request's or a cut-off reply's finish reason -> its drop reason
FINISH_DROPS = {"error": "error", "filtered": "filtered", "abort": "aborted", "length": "truncated"}
REPLIES_VERSION = 2  # part of every shard's key: shards cached in an older layout are never read back
REPLY_SCHEMA = {"key": pl.String, "response": pl.String, "finish_reason": pl.String,
                **{name: pl.Int64 for name in USAGE_FIELDS}}


class BudgetExceeded(RuntimeError):
    """The next shard would take the Oracle's spending past ``oracle.max_cost``."""


def _usd(amount: float) -> str:
    return f"${amount:,.2f}" if amount >= 1 else f"${amount:.4f}"


@dataclass
class Budget:
    """What an Oracle stage has spent (every request it asked, or found cached) at ``price``
    (a ``costs.prices`` entry; None: free), and the ``limit`` in USD it may not pass (None: none)."""

    price: Price | None = None
    limit: float | None = None
    usage: Usage = Usage()

    @property
    def spent(self) -> float:
        return self.usage.cost(self.price)

    def check(self, finished: Usage, upcoming: Usage, *, desc: str, total: int) -> None:
        """Raise ``BudgetExceeded`` when the ``upcoming`` shard could take the spending past the limit.

        ``finished``: this step's requests so far; their mean cost estimates the shard's. Before any,
        ``upcoming`` itself does: its prompts counted locally and every reply at max_new_tokens.
        """
        if self.limit is None:
            return
        per_call = (finished.cost(self.price) / finished.calls if finished.calls
                    else upcoming.cost(self.price) / upcoming.calls)
        spent, estimate = self.spent + finished.cost(self.price), per_call * upcoming.calls
        if spent + estimate > self.limit:
            raise BudgetExceeded(
                f"stopped before passing oracle.max_cost {_usd(self.limit)}: {_usd(spent)} spent, and the next "
                f"shard would cost about {_usd(estimate)}. {finished.calls} of {total} {desc} requests are done and "
                f"cached (the rest would cost about {_usd(per_call * (total - finished.calls))})")


@dataclass(frozen=True)
class OracleCall:
    """An engine serving the Oracle, how to call it, the budget its requests count against, and the share of
    them that may fail (``engines.oracle.max_error_share``)."""

    engine: Engine
    model: dict
    sampling: Sampling
    cache_dir: Path
    shard_size: int
    budget: Budget = field(default_factory=Budget)
    max_error_share: float = 0.05


def source_traces(samples: pl.DataFrame, native: pl.DataFrame, rule: str) -> pl.DataFrame:
    """The SLM trace each refinement starts from, one per problem of the shared set.

    ``native``: the native corpus's trace. ``failed``: the problem's first failed sample that
    ended on its own (else its first failed one), falling back to the native trace where every
    sample was right.
    """
    base = native.select("problem_id", "question", "gold", pl.col("trace_id").alias("parent_id"),
                         pl.col("response").alias("source_response"))
    if rule == "native":
        return base
    if rule != "failed":
        raise ValueError(f"unknown refinement source {rule!r}; choose native or failed")
    failed = (
        samples.filter(~pl.col("correct") & ~pl.col("finish_reason").is_in(FAILED)
                       & pl.col("problem_id").is_in(native["problem_id"].implode()))
        .sort("problem_id", pl.col("finish_reason") != "stop", "sample")
        .group_by("problem_id", maintain_order=True).first()
        .select("problem_id", pl.format("sample:{}:{}", "problem_id", "sample").alias("failed_id"),
                pl.col("response").alias("failed_response"))
    )
    return (
        base.join(failed, on="problem_id", how="left")
        .select("problem_id", "question", "gold",
                pl.coalesce("failed_id", "parent_id").alias("parent_id"),
                pl.coalesce("failed_response", "source_response").alias("source_response"))
    )


def ask_oracle(call: OracleCall, prompt: Prompt, rows: list[dict], *, desc: str) -> pl.DataFrame:
    """The Oracle's reply to ``prompt`` rendered with each row's fields, with each request's usage;
    resumable by shard, stopped before a shard that would pass the budget, and failed (``TooManyFailures``)
    when more replies failed than ``call.max_error_share`` allows."""
    if not rows:
        return pl.DataFrame(schema=REPLY_SCHEMA)

    def conversations(shard: list[dict]) -> list[list[dict]]:
        return [[{"role": "user", "content": prompt.render(**{f: row[f] for f in prompt.fields})}] for row in shard]

    def work(shard: list[dict]) -> pl.DataFrame:
        replies = call.engine.generate(conversations(shard), 1, call.sampling)
        usage = [Usage.of([r]) for r in replies]
        return pl.DataFrame({"key": [row["key"] for row in shard], "response": [r[0].text for r in replies],
                             "finish_reason": [r[0].finish_reason for r in replies],
                             **{name: [getattr(u, name) for u in usage] for name in USAGE_FIELDS}},
                            schema=REPLY_SCHEMA)

    def guard(shard: list[dict], finished: list[pl.DataFrame]) -> None:
        worst = Usage(calls=len(shard), completion_tokens=len(shard) * call.sampling.max_new_tokens,
                      prompt_tokens=sum(count_tokens(c[0]["content"]) for c in conversations(shard)))
        done = sum((Usage.from_rows(frame) for frame in finished), Usage())
        call.budget.check(done, worst, desc=desc, total=len(rows))

    key = {"engine": call.engine.name, "model": call.model["id"], "revision": call.model.get("revision"),
           "prompt": prompt.id, "template": prompt.template, "sampling": call.sampling.__dict__,
           "replies": REPLIES_VERSION, "stop": getattr(call.engine, "stop_ids", None)}
    replies = run_sharded(rows, work, key=key, cache_dir=call.cache_dir, shard_size=call.shard_size, desc=desc,
                          guard=guard if call.budget.limit is not None else None)
    call.budget.usage += Usage.from_rows(replies)
    check_failures(zip(replies["finish_reason"], replies["response"]), replies.height,
                   max_share=call.max_error_share, what=f"the Oracle's {desc} requests")
    return replies


def grade_attempts(attempts: pl.DataFrame, *, max_edit: float | None, model_written: bool = True) -> pl.DataFrame:
    """Each attempt's answer, verdict, drift measures and ``drop_reason`` (null when kept); a ``model_written``
    attempt must also be a worked solution (a dataset's written solution is taken as it is)."""
    if attempts.is_empty():
        return attempts.with_columns(pl.lit(None, dtype=pl.String).alias("answer"),
                                     pl.lit(None, dtype=pl.Float64).alias("edit_distance"),
                                     pl.lit(None, dtype=pl.Float64).alias("verbatim_prefix"),
                                     pl.lit(None, dtype=pl.String).alias("drop_reason"))
    rows = attempts.to_dicts()
    verdicts = grade_many([(r["response"] or "", r["gold"]) for r in rows])
    for row, correct in zip(rows, verdicts):
        unread = row["finish_reason"] == "refused" or row["finish_reason"] in FAILED  # no trace to read
        row["answer"] = extract_answer(row["response"] or "") if not unread else None
        source = row.get("source_response") if not unread else None
        row["edit_distance"] = edit_distance(source, row["response"]) if source is not None else None
        row["verbatim_prefix"] = verbatim_prefix(source, row["response"]) if source is not None else None
        if row["finish_reason"] == "refused":
            row["drop_reason"] = "refused"
        elif row["finish_reason"] in FINISH_DROPS:
            row["drop_reason"] = FINISH_DROPS[row["finish_reason"]]
        elif row["answer"] is None:
            row["drop_reason"] = "no_answer"
        elif not correct:
            row["drop_reason"] = "wrong_answer"
        elif model_written and not_a_solution(row["response"]):
            row["drop_reason"] = "not_a_solution"
        elif max_edit is not None and row["edit_distance"] is not None and row["edit_distance"] > max_edit:
            row["drop_reason"] = "drift_guard"
        else:
            row["drop_reason"] = None
    return pl.DataFrame(rows, schema_overrides={"answer": pl.String, "edit_distance": pl.Float64,
                                                "verbatim_prefix": pl.Float64, "drop_reason": pl.String})


def judge_kept(call: OracleCall, prompt: Prompt, graded: pl.DataFrame) -> pl.DataFrame:
    """``judge_score`` (semantic preservation, 1-5, null when the judge gave none) for each kept refinement."""
    kept = graded.filter(pl.col("drop_reason").is_null())
    rows = [{"key": r["problem_id"], "question": r["question"], "trace": r["source_response"],
             "refined": r["response"]} for r in kept.iter_rows(named=True)]
    replies = ask_oracle(call, prompt, rows, desc="judge")
    judged = pl.col("response").map_elements(parse_judge_score, return_dtype=pl.Float64)
    scores = replies.select(pl.col("key").alias("problem_id"),  # a failed request's message is no score
                            pl.when(pl.col("finish_reason").is_in(FAILED)).then(None).otherwise(judged)
                            .alias("judge_score"))
    return graded.join(scores, on="problem_id", how="left")


def assemble(name: str, graded: pl.DataFrame, call: OracleCall | None, prompt_id: str) -> pl.DataFrame:
    """The kept attempts as a corpus in the common schema; refinements carry ``same_operations``, the exact
    check of a world that can tell (``qup.corpora.checks``)."""
    kept = graded.filter(pl.col("drop_reason").is_null())
    same = [same_operations(r) for r in kept.iter_rows(named=True)] if "source_response" in kept.columns else None
    kept = kept.with_columns(
        pl.lit(name).alias("corpus"),
        pl.format(f"{name}:{{}}", "problem_id").alias("trace_id"),
        pl.lit(call.engine.name if call else "dataset").alias("engine"),
        pl.lit(call.model["id"] if call else None, dtype=pl.String).alias("model"),
        pl.lit(prompt_id, dtype=pl.String).alias("prompt"),
    )
    if same is not None:
        kept = kept.with_columns(pl.Series("same_operations", same, dtype=pl.Boolean))
    return corpus_frame(kept).sort("problem_id")


def corpus_metrics(name: str, graded: pl.DataFrame, corpus: pl.DataFrame, shared: int) -> dict:
    """Coverage of the shared set, why the rest fell out, and the refinement measures."""
    reasons = graded["drop_reason"].drop_nulls().value_counts()
    dropped = {reason: 0 for reason in DROP_REASONS}
    dropped.update({r: int(n) for r, n in reasons.iter_rows()})
    metrics = {"corpus": name, "shared_problems": shared, "covered": corpus.height,
               "coverage": corpus.height / shared if shared else 0.0, "dropped": dropped,
               "mean_chars": float(corpus["response"].str.len_chars().mean() or 0.0)}
    for column in ("edit_distance", "verbatim_prefix", "judge_score"):
        values = corpus[column].drop_nulls()
        if values.len():
            metrics[f"mean_{column}"] = float(values.mean())
    if corpus["edit_distance"].drop_nulls().len():
        metrics["unchanged_share"] = float((corpus["edit_distance"] == 0).mean())
    if corpus["source_response"].drop_nulls().len():
        metrics["judge_missing"] = int(corpus["judge_score"].is_null().sum())
    if corpus["same_operations"].drop_nulls().len():
        metrics["same_operations_share"] = float(corpus["same_operations"].drop_nulls().mean())
    return metrics


def attempt_answer(trace: str | None) -> str:
    """The final answer a source trace states, as a prompt shows it ("no final answer" when it states none)."""
    answer = extract_answer(trace or "", last_number_fallback=False)
    return answer if answer is not None else "no final answer"


def build_corpus(name: str, task_prompt: Prompt, call: OracleCall, targets: pl.DataFrame, problems: pl.DataFrame,
                 *, max_edit: float | None, judge_prompt: Prompt | None) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """Ask the Oracle for each target (problem_id, question, gold, and for refinements parent_id and
    source_response), grade, drop, judge; returns the corpus, every graded attempt, and metrics."""
    targets = targets.join(problems.select(pl.col("id").alias("problem_id"), "meta"), on="problem_id", how="left")
    refining = "source_response" in targets.columns
    # the gold answer and the source trace's own answer are fields too: a prompt that names {answer} shows the
    # Oracle the gold (refine.v2, ...), {attempt_answer} what the trace concluded (refine.v3, ...)
    rows = [{"key": r["problem_id"], "question": r["question"], "trace": r.get("source_response"),
             "answer": r["gold"], "attempt_answer": attempt_answer(r.get("source_response"))}
            for r in targets.iter_rows(named=True)]
    replies = ask_oracle(call, task_prompt, rows, desc=name).rename({"key": "problem_id"}).drop("calls")
    graded = grade_attempts(targets.join(replies, on="problem_id", how="left"),
                            max_edit=max_edit if refining else None)
    if refining and judge_prompt is not None:
        graded = judge_kept(call, judge_prompt, graded)
    corpus = assemble(name, graded, call, task_prompt.id)
    metrics = {**corpus_metrics(name, graded, corpus, targets.height), **call.budget.usage.metrics(call.budget.price)}
    return corpus, graded.drop("meta"), metrics


def build_reference(name: str, native: pl.DataFrame,
                    problems: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """Corpus ``name``: the dataset's own written solutions of the shared problems, graded like every other."""
    targets = native.select("problem_id", "question", "gold").join(
        problems.select(pl.col("id").alias("problem_id"), "meta", pl.col("solution").alias("response")),
        on="problem_id", how="left")
    present = targets.filter(pl.col("response").is_not_null() & (pl.col("response").str.strip_chars() != ""))
    graded = grade_attempts(present.with_columns(pl.lit("stop").alias("finish_reason")), max_edit=None,
                            model_written=False)
    corpus = assemble(name, graded, None, None)
    metrics = corpus_metrics(name, graded, corpus, targets.height)
    metrics["dropped"]["no_reference"] = targets.height - present.height
    return corpus, graded.drop("meta"), metrics


def describe(metrics: dict) -> str:
    """The one-line summary a stage prints."""
    dropped = ", ".join(f"{n} {r}" for r, n in metrics["dropped"].items() if n) or "none dropped"
    extra = f", mean edit distance {metrics['mean_edit_distance']:.3f}" if "mean_edit_distance" in metrics else ""
    return (f"{metrics['corpus']}: {metrics['covered']} of {metrics['shared_problems']} shared problems "
            f"({dropped}){extra}")
