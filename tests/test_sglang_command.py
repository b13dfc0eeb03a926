"""SGLang's launch command lines, multi-GPU flags and router included (no GPU needed)."""

import json

from qup.engines.sglang import sglang_command


def test_single_server_binds_to_loopback():
    cmd = sglang_command("/m", python="py", port=30000, device="cpu", mem_fraction=0.1, max_running_requests=64)
    assert cmd[:3] == ["py", "-m", "sglang.launch_server"]
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1" and cmd[cmd.index("--port") + 1] == "30000"
    assert cmd[cmd.index("--mem-fraction-static") + 1] == "0.1"
    assert cmd[cmd.index("--max-running-requests") + 1] == "64"
    assert "--dp-size" not in cmd and "--tp-size" not in cmd


def test_data_parallel_goes_through_the_router():
    cmd = sglang_command("/m", python="py", port=1, tp_size=2, dp_size=4)
    assert cmd[2] == "sglang_router.launch_server"
    assert cmd[cmd.index("--dp-size") + 1] == "4" and cmd[cmd.index("--tp-size") + 1] == "2"


def test_data_parallel_without_the_router_and_lora_adapters():
    cmd = sglang_command("/m", python="py", port=1, dp_size=2, router=False, lora_paths=["a=/x", "b=/y"],
                         extra_args=["--skip-server-warmup"])
    assert cmd[2] == "sglang.launch_server" and cmd[cmd.index("--dp-size") + 1] == "2"
    assert cmd[cmd.index("--lora-paths") + 1:cmd.index("--lora-paths") + 3] == ["a=/x", "b=/y"]
    assert "--enable-lora" in cmd and cmd[-1] == "--skip-server-warmup"


def test_deterministic_inference_only_when_asked():
    assert "--enable-deterministic-inference" in sglang_command("/m", python="py", port=1, deterministic=True)
    assert "--enable-deterministic-inference" not in sglang_command("/m", python="py", port=1)


def test_a_shared_server_enables_lora_for_adapters_loaded_later(tmp_path):
    from qup.engines.identity import lora_shape

    for name, rank, modules in (("a", 8, ["q_proj", "v_proj"]), ("b", 16, "all-linear")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "adapter_config.json").write_text(json.dumps({"r": rank, "target_modules": modules}))
    rank, modules = lora_shape([str(tmp_path / "a"), str(tmp_path / "b")])
    assert (rank, modules) == (16, ["all-linear", "q_proj", "v_proj"])
    cmd = sglang_command("/m", python="py", port=1, lora_rank=16, lora_modules=["q_proj", "v_proj"])
    assert "--enable-lora" in cmd and cmd[cmd.index("--max-lora-rank") + 1] == "16"
    assert cmd[cmd.index("--lora-target-modules") + 1:] == ["q_proj", "v_proj"] and "--lora-paths" not in cmd
