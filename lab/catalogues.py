"""Small real catalogues for the lab and the tests: the first products of the shipped sample, with their photos."""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from features.model_spec import data_dir


def copy_sample_catalogue(destination: Path, n: int) -> Path:
    """The first n products of data/catalogue, copied with their photos into `destination`."""
    source = data_dir() / "catalogue"
    frame = pd.read_csv(source / "catalogue.csv", dtype=str, keep_default_na=False).head(n)
    (destination / "images").mkdir(parents=True, exist_ok=True)
    for relative in frame["image"]:
        shutil.copy(source / relative, destination / relative)
    frame.to_csv(destination / "catalogue.csv", index=False)
    return destination
