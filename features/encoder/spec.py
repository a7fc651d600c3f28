"""Encoder specs: the one model spec grammar (features.model_spec) for kind "encoder".

    embedded                 our own small CLIP, shipped in data/models/embedded-clip
    local-dir:PATH           an open_clip checkpoint folder (open_clip_config.json + weights)
    openclip:ARCH/TAG        a pretrained open_clip model from the local cache (offline)
"""
from __future__ import annotations

from features.model_spec import ModelSpec as EncoderSpec, data_dir, parse_model_spec  # noqa: F401 (re-exported)


def parse_encoder_spec(spec: str) -> EncoderSpec:
    return parse_model_spec(spec, "encoder")
