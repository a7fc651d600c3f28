"""Shared fixtures: tiny models and small real catalogues, so every test is fast and offline."""
from __future__ import annotations

from pathlib import Path

import pytest

from features.catalogue import load_catalogue
from features.encoder.clip_encoder import ClipEncoder
from tiny_models import copy_catalogue, make_tiny_encoder


@pytest.fixture(scope="session")
def tiny_encoder() -> ClipEncoder:
    return make_tiny_encoder()


@pytest.fixture
def sample_catalogue_dir(tmp_path) -> Path:
    """A writable 40-product catalogue folder (tests may break it on purpose)."""
    return copy_catalogue(tmp_path / "catalogue", 40)


@pytest.fixture
def sample_catalogue(sample_catalogue_dir):
    return load_catalogue(sample_catalogue_dir)
