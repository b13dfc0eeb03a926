"""Prove qup's SGLang engine on real GPUs: tensor and data parallelism through sglang_router.

Run on a machine with GPUs and sglang + sglang-router installed:
    python scripts/check_sglang_gpu.py MODEL_DIR_OR_HUB_ID [--dp-size N] [--tp-size M] [--k 8]
It launches the server(s) on 127.0.0.1 through qup, samples k solutions for 64 toy problems,
prints the throughput, and stops everything. Exit status 0 means every request was answered.
"""

from __future__ import annotations

import argparse
import time

import torch

from qup.engines import Sampling
from qup.engines.sglang import SGLangEngine
from qup.toy.world import generate_problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--dp-size", type=int, default=max(1, torch.cuda.device_count()))
    parser.add_argument("--tp-size", type=int, default=1)
    parser.add_argument("--k", type=int, default=8)
    args = parser.parse_args()
    questions = [p.question for p in generate_problems(64, seed=0, prefix="gpu-check")]
    conversations = [[{"role": "user", "content": f"{q}\nPut the final answer in \\boxed{{}}."}] for q in questions]
    started = time.perf_counter()
    with SGLangEngine(args.model, dp_size=args.dp_size, tp_size=args.tp_size, router=True) as engine:
        print(f"server up in {time.perf_counter() - started:.0f}s at {engine.url} "
              f"(dp {args.dp_size}, tp {args.tp_size}, router {args.dp_size > 1})")
        started = time.perf_counter()
        out = engine.generate(conversations, args.k, Sampling(temperature=1.0, max_new_tokens=512))
        seconds = time.perf_counter() - started
    tokens = sum(c.n_tokens for samples in out for c in samples)
    assert all(len(samples) == args.k for samples in out)
    print(f"{len(out) * args.k} samples, {tokens} tokens in {seconds:.1f}s: {tokens / seconds:,.0f} tok/s")


if __name__ == "__main__":
    main()
