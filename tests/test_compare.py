import json

import pytest
from typer.testing import CliRunner

from qup import compare
from qup.cli import app


def block(mean, half=0.02, **extra):
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half, **extra}


def summary(native, synth, ppl_synth, status="shows"):
    return {"k": 8, "seeds": [0, 1, 2], "verdicts": {"paradox": {"status": status}, "remedy": {}},
            "base": {"avg_at_k": block(0.3)},
            "corpora": {
                "native": {"avg_at_k": block(native), "perplexity": {"mean": 1.10},
                           "reward": {"toy_orm": {"mean": -0.6}}},
                "oracle_synth": {"role": "oracle", "avg_at_k": block(synth), "perplexity": {"mean": ppl_synth},
                                 "reward": {"toy_orm": {"mean": -0.2}},
                                 "delta_vs_native": block(synth - native, 0.03, p_value=0.001)}}}


def entry(rev, name, share, summ):
    params = {"seed": 0, "toy": {"oracle_share": share, "max_value": 40}, "train": {"seeds": [0, 1, 2]}}
    data = {"rev": rev, "params": {"params.yaml": {"data": params}}}
    if summ is not None:
        data["metrics"] = {"metrics/summary.json": {"data": summ}}
    return {"rev": rev, "name": name, "data": data}


EXP_SHOW = [
    entry("workspace", None, 0.05, summary(0.33, 0.22, 1.18)),
    {**entry("a" * 40, "main", 0.05, summary(0.33, 0.22, 1.18)), "experiments": [
        {"revs": [entry("b" * 40, "share-0.2", 0.2, summary(0.34, 0.31, 1.12, "cannot tell at this budget"))]},
        {"revs": [entry("c" * 40, "queued-one", 0.0, None)]},
    ]},
]


def test_parses_workspace_baseline_and_experiments_and_finds_what_differs():
    found = compare.parse_exp_show(EXP_SHOW)
    assert [e.name for e in found] == ["workspace", "main", "share-0.2", "queued-one"]
    assert found[2].params["toy.oracle_share"] == 0.2 and found[3].summary is None
    assert compare.select(found, []) == found[:3]  # those with a summary
    chosen = compare.select(found, ["main", "bbbb"])
    assert [e.name for e in chosen] == ["main", "share-0.2"]
    assert compare.differing_params(chosen) == ["toy.oracle_share"]
    with pytest.raises(KeyError, match="no experiment 'nope'.*share-0.2"):
        compare.select(found, ["nope"])


def test_table_and_dose_response_points():
    chosen = compare.select(compare.parse_exp_show(EXP_SHOW), ["main", "share-0.2"])
    table = compare.markdown(chosen)
    assert "| main | toy.oracle_share=0.05 | shows |" in table
    assert "| share-0.2 | toy.oracle_share=0.2 | cannot tell at this budget |" in table
    assert "| main | oracle_synth | 0.220 [0.200, 0.240] | -0.110 [-0.140, -0.080] | -0.200 | 1.180 |" in table
    (point,) = compare.adaptation_points(chosen[0])
    assert point["corpus"] == "oracle_synth"
    assert point["ppl_ratio"] == pytest.approx(1.18 / 1.10)
    assert (point["utility_gap"], point["ci_low"], point["ci_high"]) == pytest.approx((0.11, 0.08, 0.14))


def test_cli_writes_table_and_plot(tmp_path, monkeypatch):
    monkeypatch.setattr(compare, "read_experiments", lambda all_commits=False: compare.parse_exp_show(EXP_SHOW))
    result = CliRunner().invoke(app, ["compare", "main", "share-0.2", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "compare.md").read_text().startswith("| experiment | params that differ |")
    assert (tmp_path / "compare.png").read_bytes()[:4] == b"\x89PNG"
    missing = CliRunner().invoke(app, ["compare", "nope"])
    assert missing.exit_code == 2 and "no experiment 'nope'" in missing.output


def test_cli_looks_in_older_commits_for_a_named_experiment(tmp_path, monkeypatch):
    older = [{**EXP_SHOW[1], "rev": "d" * 40, "name": None}]
    monkeypatch.setattr(compare, "read_experiments",
                        lambda all_commits=False: compare.parse_exp_show(EXP_SHOW[:1] + (older if all_commits else [])))
    result = CliRunner().invoke(app, ["compare", "workspace", "share-0.2", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "| share-0.2 | toy.oracle_share=0.2 |" in result.output


def test_exp_show_json_shape_from_dvc(tmp_path):
    """`read_experiments` reports dvc's own error when the folder is not a DVC repository."""
    with pytest.raises(RuntimeError, match="dvc exp show --json"):
        compare.read_experiments(tmp_path)
    assert json.dumps(EXP_SHOW)  # the fixture is plain JSON, as dvc prints it


def test_which_signal_predicts_utility_pools_every_experiment_and_corpus():
    def corpora(avgs, rewards, select=None):
        return {"k": 8, "corpora": {f"c{i}": {"avg_at_k": block(a), "reward": {"toy_orm": {"mean": r}},
                                              "perplexity": {"mean": 2.0 - a}, "char3_jsd": 0.1,
                                              **({"select_score": select} if select is not None and i == 0 else {})}
                                    for i, (a, r) in enumerate(zip(avgs, rewards))}}

    experiments = [compare.Experiment("lam-0", "a", {}, corpora([0.1, 0.3, 0.5], [0.2, 0.4, 0.6], select=1.0)),
                   compare.Experiment("lam-1", "b", {}, corpora([0.2, 0.4, 0.6], [0.3, 0.5, 0.7], select=0.5)),
                   compare.Experiment("failed", "c", {}, None)]
    pooled = compare.pooled_signals(experiments)
    # three corpora per experiment tell nothing alone; the six points pooled order perfectly
    assert pooled["reward (toy_orm)"]["n"] == 6 and pooled["reward (toy_orm)"]["rho"] == pytest.approx(1.0)
    assert pooled["reward (toy_orm)"]["word"] == "predicts" and pooled["perplexity"]["word"] == "predicts"
    assert pooled["select score"]["n"] == 2 and pooled["select score"]["word"] == "cannot tell"
    table = compare.markdown(experiments)
    assert "| signal | n (experiment, corpus) points | Spearman ρ with Avg@8 [95% CI] |" in table
    assert "| reward (toy_orm) | 6 | +1.00 | + | predicts |" in table
