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
    from qup.numerics import cpu_flags

    if "avx512f" not in cpu_flags():  # torch reports the capability it is asked for, not the CPU's
        pytest.skip("this CPU has no AVX-512: its kernels cannot be wider than AVX2")
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


@pytest.mark.parametrize(("machine", "flags", "warned"), [
    ("x86_64", {"avx2", "fma"}, True),  # an AVX2-only CPU (AMD Zen 3): torch emulates bfloat16
    ("x86_64", {"avx2", "avx512f", "avx512_bf16"}, False),
    ("x86_64", {"avx2", "amx_bf16", "amx_tile"}, False),
    ("x86_64", set(), False),  # no /proc/cpuinfo to read: nothing to say
    ("aarch64", {"fp", "asimd"}, False),
])
def test_bfloat16_on_a_cpu_without_its_instructions_is_warned_of(monkeypatch, machine, flags, warned):
    import qup.numerics as numerics

    monkeypatch.setattr(numerics.platform, "machine", lambda: machine)
    monkeypatch.setattr(numerics, "cpu_flags", lambda: flags)
    warning = numerics.slow_bfloat16_warning("hf")
    assert (warning is not None) is warned
    if warned:
        assert warning.startswith("hf: bfloat16 on a CPU without bfloat16 instructions") and "float32" in warning


def test_training_in_bf16_on_such_a_cpu_says_so(monkeypatch, capsys):
    import qup.numerics as numerics
    from qup.config import TrainParams
    from qup.training import precision

    monkeypatch.setattr(numerics.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(numerics, "cpu_flags", lambda: {"avx2"})
    assert precision(TrainParams(dtype="bf16"), "cpu") == "bf16"
    assert "train.dtype bf16: bfloat16 on a CPU without bfloat16 instructions" in capsys.readouterr().err
    assert precision(TrainParams(dtype="fp32"), "cpu") == "fp32" and capsys.readouterr().err == ""
