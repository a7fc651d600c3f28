"""Tiny products, vectors and events for the recsys tests (no images, no encoder needed)."""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from features.catalogue import Catalogue

GENDERS, TYPES, COLOURS, USAGES = ("Men", "Women"), ("Tshirts", "Shoes", "Watches"), ("Blue", "Red", "Black"), ("Casual", "Sports")
DIM = 16


def tiny_products() -> pd.DataFrame:
    """36 products: every (gender, type, colour) pair twice over usages, ids 100, 103, 106, ..."""
    rows = [dict(gender=g, articleType=t, baseColour=c, usage=u, masterCategory="Apparel", subCategory=t,
                 season="Summer", title=f"{g} {c} {t}", image=f"images/{i}.jpg")
            for i, (g, t, c, u) in enumerate(itertools.product(GENDERS, TYPES, COLOURS, USAGES))]
    frame = pd.DataFrame(rows)
    frame.index = pd.Index(100 + 3 * np.arange(len(frame)), name="product_id", dtype=np.int64)
    return frame


def tiny_catalogue() -> Catalogue:
    return Catalogue(tiny_products(), Path("."))


def attribute_vectors(products: pd.DataFrame, noise: float = 0.05, seed: int = 0) -> np.ndarray:
    """Unit vectors where products sharing attributes are close: one-hots (the article type counting
    double, as it does in a photo) plus a little noise."""
    onehot = pd.get_dummies(products[["gender", "articleType", "baseColour", "usage"]]).to_numpy(float)
    onehot[:, len(GENDERS):len(GENDERS) + len(TYPES)] *= 2.0
    padded = np.zeros((len(products), DIM))
    padded[:, :onehot.shape[1]] = onehot
    padded += noise * np.random.default_rng(seed).standard_normal(padded.shape)
    return (padded / np.linalg.norm(padded, axis=1, keepdims=True)).astype(np.float32)


def events_frame(rows: list[tuple], start: float = 1.7e9) -> pd.DataFrame:
    """Validated-style events from (user, item, type, hours after start[, query])."""
    return pd.DataFrame({
        "event_id": [f"e{i}" for i in range(len(rows))],
        "user_id": [r[0] for r in rows],
        "item_id": np.array([r[1] for r in rows], dtype=np.int64),
        "type": [r[2] for r in rows],
        "timestamp": [start + 3600.0 * r[3] for r in rows],
        "session_id": "",
        "query": [r[4] if len(r) > 4 else "" for r in rows],
        "value": np.nan,
    })
