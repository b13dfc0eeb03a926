"""Corpora drawn from other corpora: select (reward against the SLM's NLL), mix (a seeded share) and
self_rewrite (SDFT's rule), their params checks, and the two-step corpus stages DVC runs them in."""

import json
import shutil
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pytest
import yaml
from dvc.repo import Repo

from qup.config import Params, check_corpora, load_params, merged, read_yaml
from qup.corpora.mix import mix_corpus
from qup.corpora.select import candidate_pool, pick, score_pool, select_corpus
from qup.corpora.self_rewrite import rewrite, self_rewrite_corpus
from qup.engines import Completion, Sampling
from qup.prompts import load_prompt
from qup.scoring.nll import ResponseNLL
from tests.test_oracle_corpora import miniature_world  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
PRESET = REPO / "presets/compare-methods.yaml"


def corpus(name, rows):
    """A corpus in the common schema from (problem_id, response) rows, every answer the gold."""
    return pl.DataFrame([{"corpus": name, "problem_id": p, "trace_id": f"{name}:{p}", "question": f"q {p}",
                          "response": r, "answer": "5", "gold": "5"} for p, r in rows])


def scored_pool():
    """Two problems; on p1 the reward prefers the Oracle's trace, the SLM's NLL the native one."""
    pool = candidate_pool({"native": corpus("native", [("p1", "n1"), ("p2", "n2")]),
                           "oracle_synth": corpus("oracle_synth", [("p1", "o1"), ("p2", "o2")])}, ["p1", "p2"])
    scores = {"n1": (0.2, 0.5), "o1": (0.9, 3.0), "n2": (0.5, 0.4), "o2": (0.1, 2.0)}  # reward, NLL per token
    return pool.with_columns(pl.Series("reward", [scores[r][0] for r in pool["response"]]),
                             pl.Series("nll_per_token", [scores[r][1] for r in pool["response"]]))


def test_lambda_zero_picks_the_highest_reward_and_a_large_lambda_the_lowest_nll():
    pool = scored_pool()
    by_reward, _, metrics = select_corpus("select", pool, ["p1", "p2", "p3"], lam=0.0, reward_label="toy_orm")
    assert by_reward["response"].to_list() == ["o1", "n2"]
    assert by_reward["source"].to_list() == ["oracle_synth", "native"]
    assert by_reward["reward"].to_list() == [0.9, 0.5] and by_reward["nll_per_token"].to_list() == [3.0, 0.4]
    assert by_reward["parent_id"].to_list() == ["oracle_synth:p1", "native:p2"]
    assert by_reward["trace_id"].to_list() == ["select:p1", "select:p2"] and (by_reward["corpus"] == "select").all()
    assert metrics["covered"] == 2 and metrics["dropped"] == {"no_candidate": 1}  # p3 has no candidate
    assert metrics["sources"] == {"native": {"candidates": 2, "won": 1}, "oracle_synth": {"candidates": 2, "won": 1}}
    grape, attempts, _ = select_corpus("select", pool, ["p1", "p2"], lam=1e6, reward_label="toy_orm")
    assert grape["response"].to_list() == ["n1", "n2"] and grape["source"].to_list() == ["native", "native"]
    assert attempts.filter(pl.col("drop_reason").is_null())["response"].sort().to_list() == ["n1", "n2"]
    assert set(attempts["drop_reason"].drop_nulls()) == {"not_selected"}


def test_the_select_score_is_z_reward_minus_lambda_z_nll_over_every_candidate():
    picked = pick(scored_pool(), 0.5)
    rewards = picked["reward"].to_numpy()
    z = (rewards - rewards.mean()) / rewards.std()
    assert picked["z_reward"].to_list() == pytest.approx(z.tolist())
    assert picked["select_score"].to_list() == pytest.approx((picked["z_reward"] - 0.5 * picked["z_nll"]).to_list())
    assert picked.group_by("problem_id").agg(pl.col("selected").sum())["selected"].to_list() == [1, 1]


def test_the_pool_keeps_shared_problems_and_a_text_two_sources_share_once():
    pool = candidate_pool({"native": corpus("native", [("p1", "same"), ("p9", "x")]),
                           "reference": corpus("reference", [("p1", "same"), ("p1", "other")])}, ["p1"])
    assert pool.select("source", "response").rows() == [("native", "same"), ("reference", "other")]


class FakeReward:
    def __init__(self):
        self.calls = 0

    def score(self, pairs):
        self.calls += 1
        return [float(len(response)) for _, response in pairs]


def fake_nll(pairs):
    return [ResponseNLL(list(range(len(r))), [0.1 * len(r)] * len(r)) for _, r in pairs]


def test_candidates_are_scored_once_per_source_and_cached_by_their_texts(tmp_path):
    pool = candidate_pool({"native": corpus("native", [("p1", "ab"), ("p2", "abcd")]),
                           "oracle_synth": corpus("oracle_synth", [("p1", "abc")])}, ["p1", "p2"])
    model = FakeReward()
    score = dict(prompt=load_prompt("toy_solve"), nll_fn=fake_nll, slm_key="slm", reward_model=model,
                 reward="reward_toy_orm", rm_key="rm", cache_dir=tmp_path, shard_size=8)
    scored = score_pool(pool, **score)
    assert scored["reward"].to_list() == [2.0, 4.0, 3.0]
    assert scored["nll_per_token"].to_list() == pytest.approx([0.2, 0.4, 0.3])
    assert model.calls == 2  # one shard per source
    assert score_pool(pool, **score).equals(scored) and model.calls == 2  # a second select corpus: all cached


def test_mix_takes_an_exact_seeded_share_of_the_problems_both_cover():
    ids = [f"p{i:02d}" for i in range(40)]
    native = corpus("native", [(p, f"n {p}") for p in ids])
    synth = corpus("oracle_synth", [(p, f"o {p}") for p in ids[:30]])  # covers 30 of the 40

    def mixed(share, seed=0, name="mix"):
        return mix_corpus(name, ("native", native), ("oracle_synth", synth), share=share, seed=seed, shared=ids)

    half, attempts, metrics = mixed(0.5)
    assert half.height == 30 and (half["source"] == "native").sum() == 15 and metrics["realised_share"] == 0.5
    assert half["response"].to_list() == [f"{'n' if s == 'native' else 'o'} {p}"
                                          for p, s in zip(half["problem_id"], half["source"])]
    assert half["parent_id"].to_list() == [f"{s}:{p}" for p, s in zip(half["problem_id"], half["source"])]
    assert metrics["dropped"] == {"not_in_both": 10}
    assert dict(attempts["drop_reason"].value_counts().iter_rows()) == {None: 30, "not_drawn": 30, "not_in_both": 10}
    assert mixed(0.5)[0].equals(half)  # the same seed, the same mix
    assert not mixed(0.5, seed=1)[0]["source"].equals(half["source"])
    assert (mixed(0.3)[0]["source"] == "native").sum() == 9
    assert set(mixed(0.0)[0]["source"]) == {"oracle_synth"} and set(mixed(1.0)[0]["source"]) == {"native"}


class RewritingSLM:
    """A fake SLM engine: rewrites 'p1' with the right answer, 'p2' with a wrong one, and fails on 'p3'."""

    name = "fake"

    def __init__(self):
        self.prompts = []

    def generate(self, conversations, n, sampling, seeds=None):
        self.prompts += [c[0]["content"] for c in conversations]
        replies = {"q p1": Completion("my words: 2 + 3 = 5", 3, "stop"),
                   "q p2": Completion("my words: 2 + 3 = 7", 3, "stop"),
                   "q p3": Completion("server error", 0, "error")}
        return [[replies[next(q for q in replies if q in c[0]["content"])]] for c in conversations]


def test_self_rewrite_keeps_a_rewrite_whose_answer_matches_else_the_oracle_trace(tmp_path):
    oracle = corpus("oracle_synth", [("p1", "Oracle: 2 + 3 = 5"), ("p2", "Oracle: 2 + 3 = 5"),
                                     ("p3", "Oracle: 2 + 3 = 5")]).with_columns(pl.lit("symbolic").alias("engine"))
    engine, prompt = RewritingSLM(), load_prompt("self_rewrite")
    rewrites = rewrite(engine, prompt, oracle, sampling=Sampling(temperature=0), model={"revision": "r"},
                       cache_dir=tmp_path, shard_size=8)
    assert "Oracle: 2 + 3 = 5" in engine.prompts[0] and "q p1" in engine.prompts[0]
    built, attempts, metrics = self_rewrite_corpus(
        "self_rewrite", "oracle_synth", oracle, rewrites, shared=["p1", "p2", "p3"], model={"id": "slm"},
        engine="fake", prompt=prompt, max_error_share=0.5)
    assert built["response"].to_list() == ["my words: 2 + 3 = 5", "Oracle: 2 + 3 = 5", "Oracle: 2 + 3 = 5"]
    assert built["rewrite_kept"].to_list() == [True, False, False]
    assert built["source"].to_list() == ["self_rewrite", "oracle_synth", "oracle_synth"]
    assert built["engine"].to_list() == ["fake", "symbolic", "symbolic"]
    assert built["prompt"][0] == "self_rewrite@v1" and built["parent_id"][0] == "oracle_synth:p1"
    assert attempts["drop_reason"].to_list() == [None, "wrong_answer", "error"]
    assert metrics["rewrites_kept"] == 1 and metrics["fallbacks"] == {"wrong_answer": 1, "error": 1}


def test_self_rewrite_on_the_toy_slm_stops_with_a_clear_error():
    from stages import corpus as corpus_stage

    params = Params.model_validate({"corpora": {"native": {"kind": "native"},
                                                "oracle_synth": {"kind": "oracle", "prompt": "synthesize"},
                                                "rewritten": {"kind": "self_rewrite", "from": "oracle_synth"}}})
    with pytest.raises(SystemExit, match="corpus@rewritten: the toy SLM cannot follow instructions"):
        corpus_stage.main(params, "rewritten")


@pytest.mark.parametrize("extra, labels, error", [
    ({"m": {"kind": "mix", "of": ["native", "nope"]}}, None, "corpora.m.of: unknown corpus 'nope'"),
    ({"m": {"kind": "mix", "of": ["native", "m"]}}, None, "corpora.m: derived corpora draw from each other in a "
                                                          "cycle: m -> m"),
    ({"a": {"kind": "mix", "of": ["native", "b"]}, "b": {"kind": "select", "from": ["a"]}}, None,
     "cycle: a -> b -> a"),
    ({"s": {"kind": "select", "reward_model": "qwen_rm"}}, ["toy_orm"],
     "corpora.s.reward_model: no reward model labelled 'qwen_rm' in scoring.reward_models; labels: toy_orm"),
    ({"s": {"kind": "select"}}, [], "kind select scores candidates with a reward model"),
    ({"r": {"kind": "self_rewrite", "from": "ghost"}}, None, "corpora.r.from: unknown corpus 'ghost'"),
])
def test_derived_corpora_are_checked_with_errors_naming_the_key(extra, labels, error):
    corpora = {"native": {"kind": "native"}, **extra}
    with pytest.raises(ValueError, match=error):
        if labels is None:
            Params.model_validate({"corpora": corpora})
        else:  # select's reward model is checked against scoring.reward_models' labels
            check_corpora(Params.model_validate({"corpora": corpora}).corpora, labels)


def test_a_share_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="share"):
        Params.model_validate({"corpora": {"native": {"kind": "native"},
                                           "m": {"kind": "mix", "of": ["native", "native"], "share": 1.5}}})


def test_the_stages_build_a_mix_and_a_select_corpus_from_the_candidates(miniature_world, monkeypatch):  # noqa: F811
    from stages import corpus as corpus_stage

    @contextmanager
    def backend(params, slm):
        yield fake_nll, None

    monkeypatch.setattr("qup.scoring.nll.nll_backend", backend)
    monkeypatch.setattr("qup.manifest.slm_entry", lambda: {"revision": "fake"})
    model = FakeReward()
    model.close = lambda: None
    monkeypatch.setattr("qup.scoring.corpus.reward_models",
                        lambda refs, device: [("reward_toy_orm", lambda: model, "fake")])
    params = load_params(REPO / "params.yaml", overlays=[PRESET])
    for name in params.corpora:
        corpus_stage.candidates(params, name)
    for name in params.corpora:
        corpus_stage.main(params, name)
    native = pl.read_parquet("data/corpora/native.parquet")
    mix = pl.read_parquet("data/corpora/mix.parquet")
    assert mix["problem_id"].to_list() == native["problem_id"].to_list()  # oracle_synth covers all ten
    assert (mix["source"] == "native").sum() == 5
    by_reward = pl.read_parquet("data/corpora/select_l0.parquet")  # the fake reward: the longest trace wins
    attempts = pl.read_parquet("data/attempts/select_l0.parquet")
    longest = attempts.sort("reward", descending=True).group_by("problem_id", maintain_order=True).first()
    assert dict(zip(by_reward["problem_id"], by_reward["response"])) == dict(zip(longest["problem_id"],
                                                                                 longest["response"]))
    metrics = json.loads(Path("metrics/corpora/select_l0.json").read_text())
    assert metrics["covered"] == 10 and set(metrics["sources"]) == {"native", "oracle_refined", "oracle_synth",
                                                                    "style_aligned", "reference"}
    assert model.calls == 5  # once per source, and select_l1 reused every score
    assert Path("data/candidates/mix/metrics.json").exists()


@pytest.fixture(scope="module")
def preset_graph(tmp_path_factory):
    """The stage graph DVC builds from dvc.yaml with the compare-methods preset's corpora."""
    root = tmp_path_factory.mktemp("dvc")
    Repo.init(str(root), no_scm=True)
    shutil.copy(REPO / "dvc.yaml", root / "dvc.yaml")
    params = merged(read_yaml(REPO / "params.yaml"), read_yaml(PRESET))
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    with Repo(str(root)) as repo:
        graph = repo.index.graph
        return {stage.name: {dep.name for dep in graph.successors(stage)} for stage in graph}


def test_dvc_runs_a_derived_corpus_after_every_corpus_it_draws_from(preset_graph):
    assert {f"candidates@{c}" for c in ("native", "oracle_refined", "oracle_synth", "style_aligned",
                                        "reference")} <= preset_graph["corpus@select_l1"]
    assert {"reward_model", "models"} <= preset_graph["corpus@select_l1"]
    assert "candidates@oracle_synth" in preset_graph["corpus@mix"]
    assert preset_graph["candidates@oracle_synth"] == {"native", "decontaminate"}
    assert "corpus@select_l1" in preset_graph["score@select_l1"]
