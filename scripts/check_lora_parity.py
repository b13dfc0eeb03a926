"""LoRA serving parity: does a LoRA adapter served per request decode like the merged model?

A known trap (SGLang issue 1519, vLLM issue 5148): an adapter applied per request can decode
differently from the same adapter merged into the weights. This builds a LoRA adapter with random,
non-zero weights on MODEL (so that it changes the outputs), then decodes 8 prompts greedily with
qup's hf engine (adapter merged) and with SGLang serving the adapter per request (--lora-paths),
and prints, per prompt, whether the two texts are equal and where they first differ.

    python scripts/check_lora_parity.py MODEL_DIR --serving-python .venv-serve/bin/python [--device cpu]

Exit status 0: every prompt decoded the same; 1: some differ; the server's error is printed if SGLang
cannot serve the adapter.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from qup.engines import Sampling
from qup.prompts import load_prompt

QUESTIONS = ["Tom has 3 pens and buys 4 more. How many pens does he have?",
             "What is 12 times 7?", "A train travels 60 km in 1.5 hours. What is its speed?",
             "Ana has 9 coins and loses 2. How many are left?", "What is the sum of the first 10 positive integers?",
             "If x + 5 = 12, what is x?", "A book costs $8. How much do 6 books cost?", "What is 15% of 80?"]


def random_adapter(model_dir: str, out: Path, seed: int = 0) -> Path:
    """A rank-8 LoRA on every linear layer, A and B both random (B is zero by default, a no-op)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    config = LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", init_lora_weights=False)
    get_peft_model(model, config).save_pretrained(out)
    return out


def first_difference(a: str, b: str) -> int | None:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None if len(a) == len(b) else min(len(a), len(b)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--serving-python", required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    args = parser.parse_args()
    from qup.engines.hf import HFEngine
    from qup.engines.sglang import SGLangEngine

    prompt = load_prompt("solve")
    conversations = [[{"role": "user", "content": prompt.render(question=q)}] for q in QUESTIONS]
    sampling = Sampling(temperature=0.0, max_new_tokens=args.max_new_tokens, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        adapter = str(random_adapter(args.model, Path(tmp) / "adapter"))
        with HFEngine(args.model, dtype="float32", adapter=adapter, progress=False) as engine:
            merged = [c[0].text for c in engine.generate(conversations, 1, sampling)]
        with HFEngine(args.model, dtype="float32", progress=False) as engine:
            base = [c[0].text for c in engine.generate(conversations, 1, sampling)]
        try:
            with SGLangEngine(args.model, python=args.serving_python, device=args.device, adapter=adapter,
                              mem_fraction=0.1, extra_args=["--skip-server-warmup"], startup_timeout=600,
                              progress=False) as engine:
                served = [c[0].text for c in engine.generate(conversations, 1, sampling)]
        except Exception as err:  # the server's own words are the finding
            print(f"SGLang could not serve the adapter: {type(err).__name__}: {err}")
            return 2
    same = 0
    for question, m, s, b in zip(QUESTIONS, merged, served, base):
        where = first_difference(m, s)
        same += where is None
        print(f"{'same' if where is None else f'differs at char {where}'}; adapter changes the output: {m != b}; "
              f"{question[:40]!r}\n  merged: {m[:80]!r}\n  served: {s[:80]!r}")
    print(f"{same} of {len(QUESTIONS)} prompts decode the same (greedy, {args.max_new_tokens} new tokens)")
    return 0 if same == len(QUESTIONS) else 1


if __name__ == "__main__":
    sys.exit(main())
