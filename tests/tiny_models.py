"""Tiny models and small real catalogues for tests: fast and offline."""
from __future__ import annotations

from pathlib import Path

import open_clip
import torch

from features.encoder.clip_encoder import ClipEncoder
from lab.catalogues import copy_sample_catalogue

TINY_CLIP = "tailorcard-clip-test"  # embed 16, width 8, one layer (features/encoder/model_configs)


def make_tiny_encoder(seed: int = 0, space_id: str = "test-space") -> ClipEncoder:
    torch.manual_seed(seed)
    model, _, preprocess = open_clip.create_model_and_transforms(TINY_CLIP)
    return ClipEncoder(model, preprocess, open_clip.get_tokenizer(TINY_CLIP), space_id=space_id, device="cpu")


def copy_catalogue(destination: Path, n: int) -> Path:
    return copy_sample_catalogue(destination, n)
