"""Pin lists of the CUDA serving venvs, from pip's installation report (``pip install --dry-run --report``).

    python pins.py lock REPORT HEADER > LOCK     every package the report would install, pinned (``name==version``)
    python pins.py check REPORT LOCK             the report installs exactly the lock: same names, same versions
    VENV/bin/python pins.py venv LOCK            the venv running it holds exactly the lock (pip itself aside)

``check`` prints what would be installed (count, torch and its CUDA runtime, the engines) and exits 1, naming each
package, when the resolution and the lock disagree (a package the lock lacks, a version it does not pin, a pin
nothing needs any more).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

SHOWN = ("torch", "triton", "flashinfer-python", "sglang", "sglang-router", "sglang-kernel", "vllm", "transformers")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def resolved(report: Path) -> dict[str, str]:
    """Canonical name -> version of every package the report would install."""
    return {canonical(item["metadata"]["name"]): item["metadata"]["version"]
            for item in json.loads(report.read_text())["install"]}


def pinned(lock: Path) -> dict[str, str]:
    """Canonical name -> version of every ``name==version`` line of a pin list."""
    pins = {}
    for number, line in enumerate(lock.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep:
            raise SystemExit(f"{lock}:{number}: not a name==version pin: {line!r}")
        pins[canonical(name)] = version.strip()
    return pins


def lock(report: Path, header: str) -> str:
    """The pin list: the header's lines as comments, then one sorted pin a line."""
    packages = resolved(report)
    comments = "".join(f"# {line}\n" for line in header.splitlines())
    return comments + "".join(f"{name}=={packages[name]}\n" for name in sorted(packages))


def cuda_runtime(packages: dict[str, str]) -> str:
    runtime = [f"{name} {version}" for name, version in packages.items() if name.startswith("nvidia-cuda-runtime")]
    return ", ".join(runtime) or "no nvidia-cuda-runtime package (a CPU build?)"


def check(report: Path, lock_file: Path) -> int:
    packages, pins = resolved(report), pinned(lock_file)
    shown = ", ".join(f"{name} {packages[name]}" for name in SHOWN if name in packages)
    print(f"would install {len(packages)} packages: {shown}; CUDA runtime: {cuda_runtime(packages)}")
    problems = [f"{name} {version}: not in {lock_file.name}" for name, version in packages.items() if name not in pins]
    problems += [f"{name}: resolves to {packages[name]}, {lock_file.name} pins {version}"
                 for name, version in pins.items() if name in packages and packages[name] != version]
    problems += [f"{name}=={version}: pinned in {lock_file.name}, but nothing needs it"
                 for name, version in pins.items() if name not in packages]
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    if problems:
        print(f"{lock_file.name} does not match the resolution ({len(problems)} differences); "
              "rerun with --relock to rewrite it", file=sys.stderr)
        return 1
    print(f"ok: the resolution installs exactly the {len(pins)} pins of {lock_file.name}")
    return 0


def venv_matches(lock_file: Path) -> int:
    """0 when the running interpreter's packages are the pins (pip, and setuptools or wheel unless pinned, aside)."""
    from importlib.metadata import distributions

    pins = pinned(lock_file)
    have = {canonical(d.metadata["Name"]): d.version for d in distributions()}
    extra = [name for name in have if name not in pins and name not in ("pip", "setuptools", "wheel")]
    wrong = [f"{name} {have.get(name, 'missing')} (pinned {version})"
             for name, version in pins.items() if have.get(name) != version]
    for problem in [f"{name} {have[name]}: not pinned" for name in extra] + wrong:
        print(f"  {problem}", file=sys.stderr)
    return 1 if extra or wrong else 0


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "lock":
        sys.stdout.write(lock(Path(argv[1]), argv[2]))
        return 0
    if len(argv) == 3 and argv[0] == "check":
        return check(Path(argv[1]), Path(argv[2]))
    if len(argv) == 2 and argv[0] == "venv":
        return venv_matches(Path(argv[1]))
    raise SystemExit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
