"""Tiny models and small real catalogues for tests: fast and offline."""
from __future__ import annotations

import shutil
from pathlib import Path

import open_clip
import pandas as pd
import torch

from features.encoder.clip_encoder import ClipEncoder

REPO = Path(__file__).resolve().parents[1]
SHIPPED_CATALOGUE = REPO / "data" / "catalogue"
TINY_CLIP = "tailorcard-clip-test"  # embed 16, width 8, one layer (features/encoder/model_configs)


def make_tiny_encoder(seed: int = 0, space_id: str = "test-space") -> ClipEncoder:
    torch.manual_seed(seed)
    model, _, preprocess = open_clip.create_model_and_transforms(TINY_CLIP)
    return ClipEncoder(model, preprocess, open_clip.get_tokenizer(TINY_CLIP), space_id=space_id, device="cpu")


def copy_catalogue(destination: Path, n: int) -> Path:
    """The first n products of the shipped sample, copied with their photos into `destination`."""
    frame = pd.read_csv(SHIPPED_CATALOGUE / "catalogue.csv", dtype=str, keep_default_na=False).head(n)
    (destination / "images").mkdir(parents=True, exist_ok=True)
    for relative in frame["image"]:
        shutil.copy(SHIPPED_CATALOGUE / relative, destination / relative)
    frame.to_csv(destination / "catalogue.csv", index=False)
    return destination
