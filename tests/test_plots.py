"""DVC's plots as a researcher sees them: every top-level plot in dvc.yaml draws from what the report writes,
through a template in .dvc/plots/, and `dvc plots show` prints no warning; on a built miniature, and (where
Chromium and npm are at hand) rendered in a browser by scripts/check_plots_page.py."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from qup import paths
from qup.report.plots import CURVES, corpus_points, training_curve

REPO = Path(__file__).resolve().parents[1]


def top_level_plots() -> dict[str, dict]:
    spec = yaml.safe_load((REPO / "dvc.yaml").read_text())
    return {pid: props for entry in spec["plots"] for pid, props in entry.items()}


def dvc_quiet(cwd: Path, *args: str) -> str:
    """``dvc`` in ``cwd``; fails on an error and on any warning it prints."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    done = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, f"dvc {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    assert "WARNING" not in done.stdout + done.stderr, f"dvc {' '.join(args)} warned:\n{done.stderr}"
    return done.stdout


def check_plots_json(repo: Path, corpora: list[str], seeds: int) -> None:
    """``dvc plots show --json`` in ``repo``: no warning, every declared plot and only those, each with data of
    every corpus."""
    shown = json.loads(dvc_quiet(repo, "plots", "show", "--json"))["data"]
    assert set(shown) == set(top_level_plots())
    for pid, entries in shown.items():
        values = entries[0]["content"]["data"]["values"]
        assert {v["corpus"] for v in values} == set(corpora), pid
    for pid in ("train_loss", "train_token_accuracy"):
        assert {v["seeds"] for v in shown[pid][0]["content"]["data"]["values"]} == {seeds}, pid


def test_every_top_level_plot_uses_a_template_of_the_repo_and_a_file_the_report_writes():
    written = {f"{paths.PLOTS.as_posix()}/{name}" for name in [*CURVES, "corpora.json"]}
    for pid, props in top_level_plots().items():
        assert (REPO / ".dvc/plots" / f"{props['template']}.json").exists(), pid
        assert set(props["y"]) <= written, pid
    spec = yaml.safe_load((REPO / "dvc.yaml").read_text())
    assert "plots" not in spec["stages"]["train"]["do"], "dvclive's folders are outs: DVC would draw every file"


def write_tsv(path: Path, field: str, values: list[float]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"step\t{field}\n" + "".join(f"{i}\t{v}\n" for i, v in enumerate(values)))


def test_a_training_curve_averages_the_seeds_of_each_corpus(tmp_path):
    file, field = CURVES[paths.TRAIN_LOSS_PLOT.name]
    write_tsv(tmp_path / paths.training_curves("native", "sft", 0) / file, field, [2.0, 1.0])
    write_tsv(tmp_path / paths.training_curves("native", "sft", 1) / file, field, [4.0, 3.0, 0.5])
    write_tsv(tmp_path / paths.training_curves("synth", "sft", 0) / file, field, [1.0])
    write_tsv(tmp_path / paths.training_curves("native", "dft", 0) / file, field, [9.0])  # not the primary
    curve = training_curve(tmp_path, ["synth", "native", "absent"], file, field, "sft")
    assert curve == [
        {"corpus": "synth", "step": 0, "loss": 1.0, "loss_min": 1.0, "loss_max": 1.0, "seeds": 1},
        {"corpus": "native", "step": 0, "loss": 3.0, "loss_min": 2.0, "loss_max": 4.0, "seeds": 2},
        {"corpus": "native", "step": 1, "loss": 2.0, "loss_min": 1.0, "loss_max": 3.0, "seeds": 2},
        {"corpus": "native", "step": 2, "loss": 0.5, "loss_min": 0.5, "loss_max": 0.5, "seeds": 1}]


def block(mean: float) -> dict:
    return {"mean": mean, "ci_low": mean - 0.1, "ci_high": mean + 0.1}


ROWS = {name: {"reward": {"toy_orm": block(r)}, "perplexity": block(p), "avg_at_k": block(a),
               "greedy_accuracy": block(a)} for name, r, p, a in [("native", -0.6, 1.1, 0.75),
                                                                  ("oracle_synth", -0.2, 6.8, 0.7)]}


def test_each_corpus_point_has_its_intervals_and_the_native_corpus_is_marked():
    native, synth = corpus_points(ROWS, "toy_orm")
    assert native["native"] and not synth["native"]
    for field in ("reward", "perplexity", "avg_at_k"):
        assert synth[f"{field}_low"] < synth[field] < synth[f"{field}_high"]
    assert corpus_points(ROWS, None)[0]["reward"] is None


def test_dvc_plots_show_draws_the_report_files_without_a_warning(tmp_path):
    """dvc.yaml and the templates, with report files written by qup.report.plots, in a bare DVC repo."""
    shutil.copy2(REPO / "dvc.yaml", tmp_path / "dvc.yaml")
    shutil.copytree(REPO / ".dvc/plots", tmp_path / ".dvc/plots")
    (tmp_path / ".dvc/config").write_text("[core]\n    no_scm = True\n    analytics = false\n")
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    out = tmp_path / paths.PLOTS
    out.mkdir(parents=True)
    (out / "corpora.json").write_text(json.dumps(corpus_points(ROWS, "toy_orm")))
    for name, (file, field) in CURVES.items():
        for corpus in ROWS:
            for seed in (0, 1):
                write_tsv(tmp_path / paths.training_curves(corpus, "sft", seed) / file, field, [0.5 + seed, 0.25])
        (out / name).write_text(json.dumps(training_curve(tmp_path, list(ROWS), file, field, "sft")))
    check_plots_json(tmp_path, list(ROWS), seeds=2)
    dvc_quiet(tmp_path, "plots", "show", "-o", str(tmp_path / "page"))
    assert (tmp_path / "page/index.html").exists()


def check_built_study_plots(study: Path, corpora: list[str], seeds: int) -> None:
    """On a study `dvc repro` built: the report's plot files, `dvc plots show` without a warning, and, where
    chromium and npm are at hand, every plot drawn in a browser (test_pipeline calls this on its build, so
    the miniature study is built once)."""
    check_plots_json(study, corpora, seeds=seeds)
    dvc_quiet(study, "plots", "show", "-o", str(study / "plots-page"))
    if not (shutil.which("chromium") or os.environ.get("CHROMIUM")) or not shutil.which("npm"):
        return
    done = subprocess.run([sys.executable, str(REPO / "scripts/check_plots_page.py"), "--repo", str(study)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
