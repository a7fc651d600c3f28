"""Generator specs: the one model spec grammar (features.model_spec) for kinds "generator" and "scene".

    embedded          our small Kandinsky-2.2-layout decoder (data/models/embedded-generator, or embedded-scene)
    local-dir:PATH    a diffusers Kandinsky 2.2 decoder folder (model_index.json, unet/, movq/, scheduler/)

A generator draws images *from* an embedding space, so it only works with the encoder of that
space: `check_same_space` refuses any other pairing.
"""
from __future__ import annotations

from features.errors import EmbeddingSpaceMismatch
from features.model_spec import ModelSpec as GeneratorSpec, parse_model_spec


def parse_generator_spec(spec: str, kind: str = "generator") -> GeneratorSpec:
    return parse_model_spec(spec, kind)


def check_same_space(encoder_space: str, generator_space: str, generator_name: str = "generator") -> None:
    """Raise EmbeddingSpaceMismatch unless encoder and generator share one embedding space."""
    if encoder_space != generator_space:
        raise EmbeddingSpaceMismatch(
            f"{generator_name} draws from embedding space {generator_space!r} but the encoder embeds into "
            f"{encoder_space!r}; use the encoder the generator was trained with (or a generator trained on this encoder)")
