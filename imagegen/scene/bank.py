"""The condition bank: what each training backdrop added in CLIP space, shipped beside the scene generator.

    rows = nearest_backdrops(bank, target, product, count=4)   # conditions worth painting for `target`
    rows = backdrops_like(bank, direction, count=4)            # conditions that add what `direction` says
    styles = backdrop_styles(bank)                             # each row's scene style (k-means cluster)
    centres = style_centres(bank, styles)                      # each style's mean direction (steering ranks them)
    rows = nearest_backdrops(bank, target, product, count=4, among=styles == 2)   # only style 2's backdrops

A taste segment's centroid is a point among product photos; the way from one product to it is rarely a way
any backdrop goes, so a generator conditioned on it paints something arbitrary. The bank holds the ways real
backdrops did go (the training composites' conditions, imagegen.scene.data), and the rows chosen are those
whose card, the product plus what that backdrop added, would lie nearest the target: conditions the generator
has learnt to follow, pointing where the segment is. The presenter paints them and keeps the card that came
out nearest (imagegen.presentation.presenter).

Scene styles are the bank's k-means clusters (spherical, STYLES of them, started farthest-first: the same bank
always gives the same styles); on the shipped bank they look like blue-purple clutter, near-white, reddish blur,
warm beige, ... An experiment's arms can each paint one style for the same segment. Arms that differed by noise
seed were within 0.5-0.8 points of each other's decision click rate in the loop simulation, in every segment:
the same scene again; styles differ more (0.1-2.9 points), so a bandit has something to find.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from features.vectors import unit_rows

BANK_FILE = "condition_bank.npy"
STYLES = 8  # k-means clusters of the shipped bank's 4,096 rows: 277 to 731 rows each
STYLE_ITERATIONS = 30


def nearest_backdrops(bank: np.ndarray, target: np.ndarray, product: np.ndarray, count: int,
                      among: np.ndarray | None = None) -> np.ndarray:
    """The `count` bank rows (float32 [count, d]) whose predicted card, unit(product + row), is nearest `target`;
    `among`: a boolean mask of the rows to choose from (one style's), None: all."""
    rows = bank if among is None else bank[among]
    predicted = unit_rows(np.asarray(product, dtype=np.float32)[None] + rows, np.float32, allow_zero=True)
    nearness = predicted @ unit_rows(np.asarray(target, dtype=np.float32)[None], dtype=np.float32)[0]
    best = np.argsort(-nearness, kind="stable")[:count]
    return rows[best].astype(np.float32)


def backdrops_like(bank: np.ndarray, direction: np.ndarray, count: int, among: np.ndarray | None = None) -> np.ndarray:
    """The `count` bank rows (float32 [count, d]) whose direction is most like `direction`: backdrops that add what
    a steered round asks a card to add, whatever the product (`among`: a boolean mask of the rows to choose from)."""
    rows = bank if among is None else bank[among]
    likeness = unit_rows(rows, np.float32, allow_zero=True) @ unit_rows(
        np.asarray(direction, dtype=np.float32)[None], np.float32, allow_zero=True)[0]
    return rows[np.argsort(-likeness, kind="stable")[:count]].astype(np.float32)


def backdrop_styles(bank: np.ndarray, styles: int = STYLES) -> np.ndarray:
    """Each bank row's style: int [n] in [0, styles), spherical k-means of the rows' directions, numbered by
    size (style 0 the largest). Deterministic for a bank, so a style names the same backdrops on every server."""
    directions = unit_rows(np.asarray(bank, dtype=np.float32), np.float32, allow_zero=True)
    centres = _farthest_first(directions, min(styles, len(directions)))
    for _ in range(STYLE_ITERATIONS):
        centres = _mean_directions(directions, np.argmax(directions @ centres.T, axis=1), centres)
    labels = np.argmax(directions @ centres.T, axis=1)
    by_size = np.argsort(-np.bincount(labels, minlength=len(centres)), kind="stable")
    return np.argsort(by_size)[labels]


def style_centres(bank: np.ndarray, styles: np.ndarray) -> np.ndarray:
    """Each style's mean direction: float32 [number of styles, d], unit rows (what that style's backdrops add)."""
    directions = unit_rows(np.asarray(bank, dtype=np.float32), np.float32, allow_zero=True)
    return _mean_directions(directions, styles, np.zeros((int(styles.max()) + 1, directions.shape[1]), np.float32))


def _mean_directions(directions: np.ndarray, labels: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Unit mean direction of each label's rows; a label with no rows keeps its `previous` row."""
    sums = np.stack([directions[labels == k].sum(axis=0) if (labels == k).any() else previous[k]
                     for k in range(len(previous))])
    return unit_rows(sums, np.float32, allow_zero=True)


def _farthest_first(directions: np.ndarray, count: int) -> np.ndarray:
    """Starting centres: the row nearest the mean direction, then each time the row least like every centre so
    far. No random draw, and the rows' order does not matter (but for exact ties)."""
    mean = unit_rows(directions.sum(axis=0)[None], np.float32, allow_zero=True)[0]
    chosen = [int(np.argmax(directions @ mean))]
    likeness = directions @ directions[chosen[0]]
    while len(chosen) < count:
        chosen.append(int(np.argmin(likeness)))
        likeness = np.maximum(likeness, directions @ directions[chosen[-1]])
    return directions[chosen]


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
