"""Problem sources (toy, local file, hub dataset), validated and split into train and test."""

from __future__ import annotations

import random
from dataclasses import dataclass

import polars as pl

from qup.config import Params
from qup.problems.validate import Validated, reason_counts, validate_rows
from qup.records import problems_frame, rejected_frame


class TooManyRejected(ValueError):
    """More rows were rejected than params allow; ``rejected`` holds them for inspection."""

    def __init__(self, message: str, rejected: pl.DataFrame):
        super().__init__(message)
        self.rejected = rejected


@dataclass
class ProblemSet:
    train: pl.DataFrame
    test: pl.DataFrame
    rejected: pl.DataFrame
    n_read: int
    revision: str | None = None  # the hub commit the source was read at
    n_over_max_lines: int = 0  # valid problems left out by problems.max_solution_lines


def check_rejected_share(result: Validated, threshold: float, where: str) -> None:
    """Fail with the counts and the commonest reasons when too many rows were rejected."""
    if result.rejected_share <= threshold:
        return
    reasons = reason_counts(result.rejected).most_common(5)
    first = result.rejected[0]
    raise TooManyRejected(
        f"{where}: rejected {len(result.rejected)} of {len(result.accepted) + len(result.rejected)} rows "
        f"({result.rejected_share:.1%}), over the limit of {threshold:.1%}. Commonest reasons: "
        + "; ".join(f"{reason} ({count})" for reason, count in reasons)
        + f". First: {first['file']} row {first['row']}, field {first['field']}: {first['reason']}",
        rejected_frame(result.rejected),
    )


def read_source(params: Params) -> tuple[Validated, str, str | None]:
    """Every row of the configured source, validated; a description of where it came from; and the hub commit it
    was read at (None for the toy world and files)."""
    cfg = params.problems
    limits = {"max_chars": cfg.max_chars, "max_solution_chars": cfg.max_solution_chars}
    if cfg.source == "toy":
        from qup.problems.toy import toy_rows

        rows = toy_rows(cfg.n_train + cfg.n_test, params.seed, params.toy)
        return validate_rows(rows, source="toy", file="toy", **limits), "toy world", None
    if cfg.source == "file":
        from pathlib import Path

        from qup.problems.files import read_rows

        path = Path(cfg.file.path)
        rows = read_rows(path, cfg.file.type)
        return validate_rows(rows, source=path.stem, file=str(path), shape=cfg.file.shape,
                             columns=cfg.file.columns, **limits), str(path), None
    from qup.problems.hub import hub_rows, pin, resolve

    hub = pin(resolve(cfg.hf.preset, cfg.hf.dataset, cfg.hf.config, cfg.hf.shape, cfg.hf.columns, cfg.hf.revision))
    rows = hub_rows(hub, cfg.hf.splits)
    return validate_rows(rows, source=hub.dataset.split("/")[-1], file=hub.dataset, shape=hub.shape,
                         columns=hub.columns, **limits), f"hf:{hub.dataset}", hub.revision


def within_solution_lines(accepted: list[dict], max_lines: int | None) -> list[dict]:
    """The problems whose written solution has at most ``max_lines`` lines (None: every problem)."""
    if max_lines is None:
        return accepted
    return [r for r in accepted if r.get("solution") and r["solution"].strip().count("\n") < max_lines]


def split_problems(accepted: list[dict], params: Params) -> tuple[list[dict], list[dict]]:
    """A deterministic train/test split; questions are already unique, so none is on both sides.

    Rows tagged with a source split (a hub dataset's own ``test``) keep it when params say so.
    """
    cfg = params.problems
    use_tags = cfg.source == "hf" and cfg.hf.use_source_split and any(r.get("split") == "test" for r in accepted)
    if use_tags:
        train = [r for r in accepted if r.get("split") != "test"]
        test = [r for r in accepted if r.get("split") == "test"]
    else:
        order = list(accepted)
        random.Random(f"split:{params.seed}").shuffle(order)
        n_test = cfg.n_test if cfg.source == "toy" else max(1, round(len(order) * cfg.test_fraction))
        test, train = order[:n_test], order[n_test:]
    rng = random.Random(f"subsample:{params.seed}")
    if len(train) > cfg.n_train:
        train = rng.sample(train, cfg.n_train)
    if len(test) > cfg.n_test:
        test = rng.sample(test, cfg.n_test)
    return sorted(train, key=lambda r: r["id"]), sorted(test, key=lambda r: r["id"])


def build_problem_set(params: Params) -> ProblemSet:
    """Read, validate and split the configured source; fail when too much of it was rejected."""
    result, where, revision = read_source(params)
    check_rejected_share(result, params.problems.max_rejected_share, where)
    if not result.accepted:
        raise ValueError(f"{where}: no valid problems")
    selected = within_solution_lines(result.accepted, params.problems.max_solution_lines)
    if not selected:
        raise ValueError(f"{where}: no problem has a written solution of at most "
                         f"{params.problems.max_solution_lines} lines (problems.max_solution_lines)")
    train, test = split_problems(selected, params)
    return ProblemSet(problems_frame(train), problems_frame(test), rejected_frame(result.rejected),
                      len(result.accepted) + len(result.rejected), revision,
                      len(result.accepted) - len(selected))
