"""Train the toy SLM for a few steps under an outer environment; print its weights' SHA-256 and seconds.

An outer setting (``--env ATEN_CPU_CAPABILITY=avx512``) stands in for another CPU; ``--pin`` applies
``qup.numerics.pin_cpu_numerics`` in the child before torch loads, as the stages do. The default toy
params except ``train_steps`` (and ``threads``, if given: the weights do not depend on it); batches are
drawn from the toy world with no problems held out.

    python scripts/isa_probe.py --steps 200 --env ATEN_CPU_CAPABILITY=avx2 [--pin]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def train_digest(steps: int, pin: bool, threads: int) -> dict:
    """In this process: train, and the weights' digest with the seconds it took."""
    if pin:
        from qup.numerics import pin_cpu_numerics

        pin_cpu_numerics()
    import torch

    from qup.config import ToyParams, ToySLMParams
    from qup.toy.tokenizer import build_char_tokenizer
    from qup.toy.train_slm import train_slm

    started = time.perf_counter()
    model, _ = train_slm(build_char_tokenizer(), ToySLMParams(train_steps=steps, threads=threads), ToyParams(), seed=0,
                         exclude=set(), progress=False)
    seconds = time.perf_counter() - started
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().contiguous().numpy().tobytes())
    return {"sha256": digest.hexdigest(), "seconds": round(seconds, 1),
            "capability": torch.backends.cpu.get_cpu_capability()}


def probe(steps: int, env: dict[str, str], pin: bool, threads: int = 2, timeout: float = 1800) -> dict:
    """``train_digest`` in a child process whose environment adds ``env`` to this one's."""
    command = [sys.executable, __file__, "--child", "--steps", str(steps), "--threads", str(threads),
               *(["--pin"] if pin else [])]
    child_env = {**os.environ, "PYTHONPATH": str(REPO), **env}
    done = subprocess.run(command, env=child_env, capture_output=True, text=True, timeout=timeout, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the toy default: 2)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="outer setting")
    parser.add_argument("--pin", action="store_true", help="pin the child's numerics as the stages do")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(train_digest(args.steps, args.pin, args.threads)))
        return
    env = dict(item.split("=", 1) for item in args.env)
    result = probe(args.steps, env, args.pin, args.threads)
    setting = " ".join(args.env) or "(unset)"
    print(f"{setting}{' +pin' if args.pin else ''}: {result['sha256'][:16]} {result['seconds']}s "
          f"({result['capability']})")


if __name__ == "__main__":
    main()
