"""LoRA serving parity: does a LoRA adapter served per request decode like the merged model?

A known trap (SGLang issue 1519, vLLM issue 5148): an adapter applied per request can decode
differently from the same adapter merged into the weights. This builds a LoRA adapter with random,
non-zero weights on MODEL (so that it changes the outputs), then decodes 8 prompts greedily:

- ``--engine sglang``: qup's hf engine (adapter merged) against SGLang serving the adapter per
  request (``--lora-paths``);
- ``--engine vllm``: vLLM's server with the adapter per request (``--lora-modules``, what
  ``LoRARequest`` does offline) against the same server build serving the merged weights, so that
  both sides share vLLM's dtype and kernels.

    python scripts/check_lora_parity.py MODEL_DIR --serving-python .venv-serve/bin/python [--engine vllm]

It prints, per prompt, whether the two texts are equal and where they first differ. Exit status 0:
every prompt decoded the same; 1: some differ; 2: the server could not serve the adapter (its error
is printed).
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


def merged_copy(model_dir: str, adapter: str, out: Path) -> Path:
    """MODEL with the adapter merged into its weights, saved with its tokenizer."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    PeftModel.from_pretrained(model, adapter).merge_and_unload().save_pretrained(out)
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(out)
    return out


def vllm_texts(model: str, python: str, conversations, sampling, *, served_name: str, extra: list[str]) -> list[str]:
    """Greedy texts from vLLM's OpenAI-compatible server for ``model`` (bfloat16, as on CPU)."""
    from qup.engines.api import OpenAIEngine
    from qup.engines.server import ManagedServer, free_port, vllm_server_command

    port = free_port()
    cmd = vllm_server_command(model, python=python, port=port, dtype="bfloat16", gpu_memory_utilization=0.1,
                              extra_args=extra)
    with ManagedServer(cmd, port, startup_timeout=600, env={"VLLM_CPU_KVCACHE_SPACE": "1"}) as server:
        engine = OpenAIEngine(served_name, base_url=f"{server.url}/v1", api_key_env=None, seeded=False,
                              progress=False)
        return [c[0].text for c in engine.generate(conversations, 1, sampling)]


def first_difference(a: str, b: str) -> int | None:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None if len(a) == len(b) else min(len(a), len(b)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--serving-python", required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--engine", choices=["sglang", "vllm"], default="sglang")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    args = parser.parse_args()
    from qup.engines.hf import HFEngine
    from qup.engines.sglang import SGLangEngine

    prompt = load_prompt("solve")
    conversations = [[{"role": "user", "content": prompt.render(question=q)}] for q in QUESTIONS]
    sampling = Sampling(temperature=0.0, max_new_tokens=args.max_new_tokens, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        adapter = str(random_adapter(args.model, Path(tmp) / "adapter"))
        with HFEngine(args.model, dtype="float32", progress=False) as engine:
            base = [c[0].text for c in engine.generate(conversations, 1, sampling)]
        try:
            if args.engine == "vllm":
                merged_dir = str(merged_copy(args.model, adapter, Path(tmp) / "merged"))
                merged = vllm_texts(merged_dir, args.serving_python, conversations, sampling,
                                    served_name=merged_dir, extra=[])
                served = vllm_texts(args.model, args.serving_python, conversations, sampling, served_name="adapter",
                                    extra=["--enable-lora", "--lora-modules", f"adapter={adapter}",
                                           "--max-lora-rank", "8"])
            else:
                with HFEngine(args.model, dtype="float32", adapter=adapter, progress=False) as engine:
                    merged = [c[0].text for c in engine.generate(conversations, 1, sampling)]
                with SGLangEngine(args.model, python=args.serving_python, device=args.device, adapter=adapter,
                                  mem_fraction=0.1, extra_args=["--skip-server-warmup"], startup_timeout=600,
                                  progress=False) as engine:
                    served = [c[0].text for c in engine.generate(conversations, 1, sampling)]
        except Exception as err:  # the server's own words are the finding
            print(f"{args.engine} could not serve the adapter: {type(err).__name__}: {err}")
            return 2
    same = 0
    for question, m, s, b in zip(QUESTIONS, merged, served, base):
        where = first_difference(m, s)
        same += where is None
        verdict = "same" if where is None else f"differs at char {where}"
        print(f"{verdict}; unlike the base model (hf, float32): {m != b}; {question[:40]!r}\n"
              f"  merged: {m[:80]!r}\n  served: {s[:80]!r}")
    print(f"{same} of {len(QUESTIONS)} prompts decode the same (greedy, {args.max_new_tokens} new tokens)")
    return 0 if same == len(QUESTIONS) else 1


if __name__ == "__main__":
    sys.exit(main())
