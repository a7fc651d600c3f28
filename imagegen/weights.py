"""One folder layout for our small torch models (the matte, the upscaler): `config.json` holds the config
dataclass's fields (the constructor's kwargs, diffusers-style) and `model.safetensors` the weights.

    save_model(model, folder)                                   # model.config is a dataclass
    model = load_model(MatteNet, MatteConfig, folder, "`tailorcard train-matte`")
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from features.checks import from_fields
from features.errors import ModelSpecError

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


def save_model(model: torch.nn.Module, folder: str | Path) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()},
              folder / WEIGHTS_FILE)
    (folder / CONFIG_FILE).write_text(json.dumps(asdict(model.config), indent=2) + "\n")


def load_model(model_class, config_class, folder: str | Path, written_by: str,
               device: str | torch.device = "cpu") -> torch.nn.Module:
    """The model in `folder`; ModelSpecError naming what is missing or malformed (`written_by`: what makes one)."""
    folder = Path(folder)
    missing = [name for name in (CONFIG_FILE, WEIGHTS_FILE) if not (folder / name).is_file()]
    if missing:
        raise ModelSpecError(f"{folder}: expected a {model_class.__name__} folder ({CONFIG_FILE} and {WEIGHTS_FILE}, "
                             f"as {written_by} writes); missing: {', '.join(missing)}")
    try:
        values = json.loads((folder / CONFIG_FILE).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelSpecError(f"{folder / CONFIG_FILE}: expected a JSON object of {config_class.__name__} fields; "
                             f"it is not JSON ({exc})") from None
    model = model_class(from_fields(config_class, values, str(folder / CONFIG_FILE), ModelSpecError))
    model.load_state_dict(_weights_for(model, folder, values))
    return model.to(device).eval()


def _weights_for(model: torch.nn.Module, folder: Path, config: dict) -> dict:
    """The folder's tensors, refused by name unless they fit the model its config builds."""
    try:
        weights = load_file(folder / WEIGHTS_FILE)
    except (SafetensorError, OSError) as exc:
        raise ModelSpecError(f"{folder / WEIGHTS_FILE}: expected a safetensors file; it cannot be read ({exc})") \
            from None
    expected = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    given = {key: tuple(value.shape) for key, value in weights.items()}
    if given != expected:
        wrong = sorted(key for key in set(given) | set(expected) if given.get(key) != expected.get(key))
        raise ModelSpecError(f"{folder / WEIGHTS_FILE}: its tensors do not fit the config in {CONFIG_FILE} "
                             f"({json.dumps(config)}); for {', '.join(wrong[:4])} expected "
                             f"{[expected.get(k) for k in wrong[:4]]}, got {[given.get(k) for k in wrong[:4]]}")
    return weights
