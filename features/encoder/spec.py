"""Model spec strings, as open_clip names models: the weights' source is a prefix.

    embedded                 our own small CLIP, shipped in data/models/embedded-clip
    local-dir:PATH           an open_clip checkpoint folder (open_clip_config.json + weights)
    openclip:ARCH/TAG        a pretrained open_clip model from the local cache (offline)
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from features.errors import ModelSpecError

EMBEDDED_ENCODER_DIR = "embedded-clip"


def data_dir() -> Path:
    """The project's data/ folder (overridable for deployments that keep models elsewhere)."""
    override = os.environ.get("TAILORCARD_DATA_DIR")
    return Path(override) if override else Path(__file__).resolve().parents[2] / "data"


@dataclass(frozen=True)
class EncoderSpec:
    source: str  # "local-dir" or "openclip"
    location: str  # folder for local-dir; architecture for openclip
    tag: str | None = None
    text: str = ""

    @property
    def open_clip_name(self) -> str:
        return f"local-dir:{self.location}" if self.source == "local-dir" else self.location


def parse_encoder_spec(spec: str) -> EncoderSpec:
    """Parse a spec string; raises ModelSpecError saying what was given and what is expected."""
    spec = (spec or "").strip()
    expected = "expected 'embedded', 'local-dir:PATH' or 'openclip:ARCH/TAG'"
    if spec == "embedded":
        folder = data_dir() / "models" / EMBEDDED_ENCODER_DIR
        return EncoderSpec("local-dir", str(folder), text=spec)
    if spec.startswith("local-dir:"):
        folder = spec[len("local-dir:"):]
        if not folder:
            raise ModelSpecError(f"encoder spec {spec!r} has no path; {expected}")
        return EncoderSpec("local-dir", folder, text=spec)
    if spec.startswith("openclip:"):
        arch, _, tag = spec[len("openclip:"):].partition("/")
        if not arch or not tag:
            raise ModelSpecError(f"encoder spec {spec!r} needs both an architecture and a tag "
                                 f"(e.g. 'openclip:ViT-B-32/laion2b_s34b_b79k'); {expected}")
        return EncoderSpec("openclip", arch, tag, text=spec)
    raise ModelSpecError(f"unknown encoder spec {spec!r}; {expected}")
