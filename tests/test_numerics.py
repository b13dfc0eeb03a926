"""The pin of CPU numerics: the toy SLM trains the same bits whatever instruction set the machine offers."""

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("isa_probe", REPO / "scripts/isa_probe.py")
isa_probe = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(isa_probe)

STEPS = 10
# another CPU, emulated: AVX-512 kernels in ATen, MKL and oneDNN (AMX where the CPU has it)
WIDE = {"ATEN_CPU_CAPABILITY": "avx512", "MKL_CBWR": "AVX512", "ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX"}
NARROW = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


@pytest.mark.slow
def test_pinned_numerics_train_the_same_weights_under_any_outer_instruction_set():
    assert isa_probe.probe(STEPS, WIDE, pin=True, threads=1)["sha256"] == \
        isa_probe.probe(STEPS, NARROW, pin=True, threads=1)["sha256"]


@pytest.mark.slow
def test_unpinned_numerics_differ_between_instruction_sets():
    wide, narrow = isa_probe.probe(STEPS, WIDE, pin=False, threads=1), isa_probe.probe(STEPS, NARROW, pin=False,
                                                                                       threads=1)
    if wide["capability"] == narrow["capability"]:
        pytest.skip(f"this CPU offers no wider kernels than AVX2 (torch runs {wide['capability']} for both)")
    assert wide["sha256"] != narrow["sha256"]


@pytest.mark.parametrize(("text", "toy"), [
    ("models:\n  slm:\n    name: toy\n", True),
    ("seed: 0\n", True),  # the default study
    ("models:\n  slm:\n    name: qwen2.5-coder-0.5b-instruct-q4km\n", False),
    ("models: [unclosed\n", True),  # broken: the stage's own params check says so
])
def test_only_the_toy_world_is_pinned(tmp_path, text, toy):
    from qup.numerics import is_toy_study

    params = tmp_path / "params.yaml"
    params.write_text(text)
    assert is_toy_study(params) is toy
    assert is_toy_study(tmp_path / "missing.yaml") is True
