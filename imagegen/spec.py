"""Generator spec strings, as the encoder's:

    embedded          our small Kandinsky-2.2-layout decoder, shipped in data/models/embedded-generator
    local-dir:PATH    a diffusers Kandinsky 2.2 decoder folder (model_index.json, unet/, movq/, scheduler/)

A generator draws images *from* an embedding space, so it only works with the encoder of that
space: `check_same_space` refuses any other pairing.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from features.encoder.spec import data_dir
from features.errors import EmbeddingSpaceMismatch, ModelSpecError

EMBEDDED_GENERATOR_DIR = "embedded-generator"
EXPECTED = "expected 'embedded' or 'local-dir:PATH' (a diffusers Kandinsky 2.2 decoder folder)"


@dataclass(frozen=True)
class GeneratorSpec:
    folder: Path
    text: str


def parse_generator_spec(spec: str) -> GeneratorSpec:
    spec = (spec or "").strip()
    if spec == "embedded":
        return GeneratorSpec(data_dir() / "models" / EMBEDDED_GENERATOR_DIR, spec)
    if spec.startswith("local-dir:"):
        folder = spec[len("local-dir:"):]
        if not folder:
            raise ModelSpecError(f"generator spec {spec!r} has no path; {EXPECTED}")
        return GeneratorSpec(Path(folder), spec)
    raise ModelSpecError(f"unknown generator spec {spec!r}; {EXPECTED}")


def check_same_space(encoder_space: str, generator_space: str, generator_name: str = "generator") -> None:
    """Raise EmbeddingSpaceMismatch unless encoder and generator share one embedding space."""
    if encoder_space != generator_space:
        raise EmbeddingSpaceMismatch(
            f"{generator_name} draws from embedding space {generator_space!r} but the encoder embeds into "
            f"{encoder_space!r}; use the encoder the generator was trained with (or a generator trained on this encoder)")
