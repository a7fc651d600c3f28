"""The condition bank: what each training backdrop added in CLIP space, shipped beside the scene generator.

    rows = nearest_backdrops(bank, target, product, count=4)   # conditions worth painting for `target`

A taste segment's centroid is a point among product photos; the way from one product to it is rarely a way
any backdrop goes, so a generator conditioned on it paints something arbitrary. The bank holds the ways real
backdrops did go (the training composites' conditions, imagegen.scene.data), and the rows chosen are those
whose card, the product plus what that backdrop added, would lie nearest the target: conditions the generator
has learnt to follow, pointing where the segment is. The presenter paints them and keeps the card that came
out nearest (imagegen.presentation.presenter).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from features.vectors import unit_rows

BANK_FILE = "condition_bank.npy"


def nearest_backdrops(bank: np.ndarray, target: np.ndarray, product: np.ndarray, count: int,
                      skip: int = 0) -> np.ndarray:
    """The `count` bank rows (float32 [count, d]) whose predicted card, unit(product + row), is nearest `target`,
    after the `skip` nearest (other scenes for the same target: an experiment's arms can explore them)."""
    predicted = unit_rows(np.asarray(product, dtype=np.float32)[None] + bank, np.float32, allow_zero=True)
    nearness = predicted @ unit_rows(np.asarray(target, dtype=np.float32)[None], dtype=np.float32)[0]
    order = np.argsort(-nearness, kind="stable")
    best = order[min(skip, len(order) - 1):][:count]  # a skip past the bank's end keeps its farthest row
    return bank[best].astype(np.float32)


def check_bank(bank: np.ndarray, settings, name: str) -> np.ndarray:
    bank = np.asarray(bank, dtype=np.float32)
    if bank.ndim != 2 or bank.shape[1] != settings.embed_dim or len(bank) == 0 or not np.isfinite(bank).all():
        raise ValueError(f"{name}: expected a condition bank of finite rows [n >= 1, {settings.embed_dim}]; "
                         f"got shape {bank.shape}")
    return bank


def save_bank(folder: str | Path, bank: np.ndarray | None) -> None:
    """fp16 halves the file; the rows are CLIP-space differences of moderate size, so nothing is lost that matters."""
    if bank is not None:
        np.save(Path(folder) / BANK_FILE, np.asarray(bank, dtype=np.float16), allow_pickle=False)


def load_bank(folder: str | Path) -> np.ndarray | None:
    """The folder's bank, or None when it has none (a real Kandinsky decoder, an older export)."""
    path = Path(folder) / BANK_FILE
    return np.load(path, allow_pickle=False).astype(np.float32) if path.is_file() else None
