"""The one checkpoint format of every training loop (the encoder's, the generators', the matte's, the
upscaler's): safetensors plus one JSON state file, written atomically.

A killed run always leaves the last complete checkpoint: the new one is written beside it and
swapped in by renames. Optimizer state is flattened into safetensors (no pickles to load).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

STATE_FILE = "state.json"


class CheckpointFolder:
    """A stage's checkpoints in this format, for features.training_loop.TrainingLoop to save and resume."""

    def __init__(self, location: Path, modules: dict, optimizers: dict):
        self.location, self.modules, self.optimizers = Path(location), modules, optimizers

    def save(self, progress: dict) -> None:
        save_checkpoint(self.location, self.modules, self.optimizers,
                        {**progress, "seconds": round(progress["seconds"], 1)})

    def load(self) -> dict | None:
        found = find_checkpoint(self.location)
        return None if found is None else load_checkpoint(found, self.modules, self.optimizers)


def save_checkpoint(folder: Path, modules: dict, optimizers: dict, state: dict) -> None:
    staging, previous = folder.with_name(folder.name + ".tmp"), folder.with_name(folder.name + ".old")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name, module in modules.items():
        save_file(_cpu_state(module.state_dict()), staging / f"{name}.safetensors")
    optimizer_meta = {}
    for name, optimizer in optimizers.items():
        tensors, optimizer_meta[name] = _flatten_optimizer(optimizer.state_dict())
        save_file(tensors, staging / f"{name}.safetensors")
    (staging / STATE_FILE).write_text(json.dumps({**state, "optimizers": optimizer_meta}, indent=2))
    shutil.rmtree(previous, ignore_errors=True)
    if folder.exists():
        folder.rename(previous)
    staging.rename(folder)
    shutil.rmtree(previous, ignore_errors=True)


def find_checkpoint(folder: Path) -> Path | None:
    """The latest complete checkpoint (the previous one if a run died between the two renames)."""
    for candidate in (folder, folder.with_name(folder.name + ".old")):
        if (candidate / STATE_FILE).is_file():
            return candidate
    return None


def load_checkpoint(folder: Path, modules: dict, optimizers: dict) -> dict:
    """Load weights and optimizer state in place; return the saved state (step, seconds, ...)."""
    state = json.loads((folder / STATE_FILE).read_text())
    for name, module in modules.items():
        module.load_state_dict(load_module_state(folder, name))
    for name, optimizer in optimizers.items():
        tensors = load_file(folder / f"{name}.safetensors")
        optimizer.load_state_dict(_unflatten_optimizer(tensors, state["optimizers"][name]))
    return state


def load_module_state(folder: Path, name: str) -> dict:
    return load_file(folder / f"{name}.safetensors")


def read_state(folder: Path) -> dict:
    return json.loads((folder / STATE_FILE).read_text())


def _cpu_state(state_dict: dict) -> dict:
    return {key: value.detach().to("cpu").contiguous() for key, value in state_dict.items()}


def _flatten_optimizer(state_dict: dict) -> tuple[dict, dict]:
    tensors, scalars = {}, {}
    for param_id, param_state in state_dict["state"].items():
        for key, value in param_state.items():
            if torch.is_tensor(value):
                tensors[f"{param_id}.{key}"] = value.detach().to("cpu").contiguous()
            else:
                scalars[f"{param_id}.{key}"] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict, meta: dict) -> dict:
    state: dict = {}
    for flat, value in [*tensors.items(), *meta["scalars"].items()]:
        param_id, key = flat.split(".", 1)
        state.setdefault(int(param_id), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}
