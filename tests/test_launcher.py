"""train.launcher: a train@ stage re-runs itself under `accelerate launch` when params ask for it."""

import sys

import pytest

import qup.launch as launch
from qup.config import Params, TrainParams
from qup.config.training import LauncherParams


def test_the_accelerate_command_runs_the_stage_module_with_the_process_count():
    command = launch.accelerate_command(LauncherParams(name="accelerate", processes=2), "stages.train", ["native"])
    assert command[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    assert command[command.index("--num_processes") + 1] == "2" and "--multi_gpu" in command
    assert command[-3:] == ["-m", "stages.train", "native"]
    one = launch.accelerate_command(LauncherParams(name="accelerate"), "stages.train", ["native"])
    assert "--multi_gpu" not in one and one[one.index("--num_processes") + 1] == "1"


def test_a_config_file_says_how_processes_share_the_model_and_the_params_say_how_many(tmp_path):
    launcher = LauncherParams(name="accelerate", processes=8, config_file="zero3.yaml")
    command = launch.accelerate_command(launcher, "stages.train", ["native"])
    assert command[command.index("--config_file") + 1] == "zero3.yaml"
    assert command[command.index("--num_processes") + 1] == "8"
    assert "--multi_gpu" not in command and "--mixed_precision" not in command  # the file's own


def test_a_stage_asked_for_accelerate_replaces_itself_with_the_launch_once(monkeypatch, tmp_path):
    import stages.train

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(launch.LAUNCHED, raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    calls = []

    def execve(path, argv, env):
        calls.append((argv, env))
        raise SystemExit(0)

    monkeypatch.setattr(launch.os, "execve", execve)
    launcher = {"name": "accelerate", "processes": 2}
    params = Params(train=TrainParams(batch_size=8, global_batch_size=16, launcher=launcher))
    with pytest.raises(SystemExit):
        stages.train.main(params, "native")
    (argv, env), = calls
    assert argv[-3:] == ["-m", "stages.train", "native"] and env[launch.LAUNCHED] == "1"
    # in the launched processes the marker is set: the stage trains instead (here: finds no corpus to read)
    monkeypatch.setenv(launch.LAUNCHED, "1")
    with pytest.raises(FileNotFoundError):
        stages.train.main(params, "native")
    assert len(calls) == 1


def test_torchrun_started_by_hand_counts_as_launched(monkeypatch):
    monkeypatch.delenv(launch.LAUNCHED, raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not launch.launched()
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert launch.launched()


def test_a_missing_config_file_fails_before_anything_launches(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(launch.os, "execve", lambda *a: pytest.fail("launched"))
    with pytest.raises(SystemExit, match="train.launcher.config_file ds/zero3.yaml does not exist"):
        launch.relaunch(LauncherParams(name="accelerate", config_file="ds/zero3.yaml"), "stages.train", ["native"])


def test_several_processes_or_a_config_file_need_the_accelerate_launcher():
    with pytest.raises(ValueError, match="train.launcher.processes > 1 and train.launcher.config_file need"):
        LauncherParams(processes=2)
    with pytest.raises(ValueError, match="need train.launcher.name: accelerate"):
        LauncherParams(config_file="fsdp.yaml")
