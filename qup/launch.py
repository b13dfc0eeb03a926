"""A stage that asks for several processes re-runs itself under ``accelerate launch``, so that ``dvc repro``
trains on every GPU through the command dvc.yaml already holds (``python -m stages.train <corpus>``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from qup.config.training import LauncherParams

LAUNCHED = "QUP_LAUNCHED"  # set in the launched processes, so that they run the stage rather than launch again


def launched() -> bool:
    """Whether this process already runs under a launcher: qup's own, or torchrun/accelerate started by hand."""
    return LAUNCHED in os.environ or "WORLD_SIZE" in os.environ


def accelerate_command(launcher: LauncherParams, module: str, args: list[str]) -> list[str]:
    """``accelerate launch`` of ``python -m module args`` with the launcher's process count. Without a config
    file the processes are plain data parallel (DDP); with one, the file says how they share the model (DeepSpeed
    ZeRO, FSDP), and the process count still comes from the params. The precision is train.dtype's either way
    (the trainer's bf16/fp16 flags, which fill a DeepSpeed file's "auto" values with the batch sizes)."""
    command = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(launcher.processes)]
    if launcher.config_file:
        command += ["--config_file", launcher.config_file]
    else:
        command += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
        if launcher.processes > 1:
            command.append("--multi_gpu")  # accelerate's torchrun launcher; on CPU the processes talk over gloo
    return [*command, "-m", module, *args]


def relaunch(launcher: LauncherParams, module: str, args: list[str]) -> None:
    """Replace this process with ``accelerate launch`` of the same stage; its exit status is the stage's."""
    if launcher.config_file and not Path(launcher.config_file).is_file():
        raise SystemExit(f"train.launcher.config_file {launcher.config_file} does not exist "
                         f"(a path relative to {Path.cwd()})")
    command = accelerate_command(launcher, module, args)
    print(f"{module}: {launcher.processes} process(es) under accelerate: {' '.join(command[1:])}",
          file=sys.stderr, flush=True)
    sys.stdout.flush()
    os.execve(command[0], command, {**os.environ, LAUNCHED: "1"})
