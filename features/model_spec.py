"""One spec grammar for every model tailorcard loads, as open_clip names models: the weights' source is a prefix.

    embedded            the model of that kind shipped in data/models (EMBEDDED[kind])
    local-dir:PATH      a folder in the kind's own layout (an open_clip checkpoint, a diffusers pipeline, ...)
    openclip:ARCH/TAG   encoders only: a pretrained open_clip model from the local cache (offline)

    spec = parse_model_spec("embedded", "scene")    # ModelSpec(kind="scene", source="local-dir", location=...)
    spec.folder                                     # Path of a local folder
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from features.errors import ModelSpecError

# kind -> the folder under data/models its `embedded` spec means (one registry for every model)
EMBEDDED = {"encoder": "embedded-clip", "generator": "embedded-generator", "scene": "embedded-scene",
            "matte": "embedded-matte", "upscaler": "embedded-upscaler"}
EXPECTED = {"encoder": "expected 'embedded', 'local-dir:PATH' or 'openclip:ARCH/TAG'"}
FOLDER_ONLY = "expected 'embedded' or 'local-dir:PATH'"


def data_dir() -> Path:
    """The project's data/ folder (overridable for deployments that keep models elsewhere)."""
    override = os.environ.get("TAILORCARD_DATA_DIR")
    return Path(override) if override else Path(__file__).resolve().parents[1] / "data"


def embedded_dir(kind: str) -> Path:
    return data_dir() / "models" / EMBEDDED[kind]


@dataclass(frozen=True)
class ModelSpec:
    kind: str
    source: str  # "local-dir" (embedded included) or "openclip"
    location: str  # a folder for local-dir; an architecture for openclip
    tag: str | None = None
    text: str = ""

    @property
    def folder(self) -> Path:
        return Path(self.location)

    @property
    def open_clip_name(self) -> str:
        return f"local-dir:{self.location}" if self.source == "local-dir" else self.location


def parse_model_spec(spec: str, kind: str) -> ModelSpec:
    """Parse a spec string for a model of `kind`; raises ModelSpecError saying what was given and what is expected."""
    if kind not in EMBEDDED:
        raise ModelSpecError(f"unknown model kind {kind!r}; expected one of {sorted(EMBEDDED)}")
    spec, expected = (spec or "").strip(), EXPECTED.get(kind, FOLDER_ONLY)
    if spec == "embedded":
        return ModelSpec(kind, "local-dir", str(embedded_dir(kind)), text=spec)
    if spec.startswith("local-dir:"):
        folder = spec[len("local-dir:"):]
        if not folder:
            raise ModelSpecError(f"{kind} spec {spec!r} has no path; {expected}")
        return ModelSpec(kind, "local-dir", folder, text=spec)
    if spec.startswith("openclip:") and kind == "encoder":
        arch, _, tag = spec[len("openclip:"):].partition("/")
        if not arch or not tag:
            raise ModelSpecError(f"{kind} spec {spec!r} needs both an architecture and a tag "
                                 f"(e.g. 'openclip:ViT-B-32/laion2b_s34b_b79k'); {expected}")
        return ModelSpec(kind, "openclip", arch, tag, text=spec)
    raise ModelSpecError(f"unknown {kind} spec {spec!r}; {expected}")
