"""Engine name (as written in params) -> a constructor taking a manifest entry and options."""

from __future__ import annotations


def _hf(model: dict, *, progress: bool, batch_size: int, device: str | None):
    from qup.engines.hf import HFEngine

    return HFEngine(model["path"], dtype=model.get("dtype", "auto"), device=device, batch_size=batch_size,
                    progress=progress, revision=None)


ENGINES = {"hf": _hf}
