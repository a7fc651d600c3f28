"""A catalogue made from photos sorted into class folders (`train/<class>/*.jpg`, `<class>/*.png`, ...).

That is how a small seller or a photo data set often comes: photos and nothing else. Each photo
becomes one product whose only attribute, `category`, is the name of the folder holding it.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from features.errors import CatalogueError

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp")  # features.images.ALLOWED_FORMATS' files
ID_DIGITS = 4
MAX_PREFIX = 100  # keeps `<prefix>-<number>` within the id rule's 128 characters


def catalogue_from_folders(folder: str | Path, catalogue_dir: str | Path) -> pd.DataFrame:
    """One row per photo under `folder`: `product_id` such as `tshirt-0001` (the folder name's letters
    and digits, numbered in path order), `title` such as "t-shirt 1", `image` relative to
    `catalogue_dir` (where the catalogue file will be), `category` (the folder name)."""
    folder, catalogue_dir = Path(folder), Path(catalogue_dir)
    photos = sorted(p for p in folder.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())
    if not photos:
        raise CatalogueError(f"{folder}: no photos ({', '.join(PHOTO_SUFFIXES)}) in it or its folders")
    rows = []
    for prefix, group in _by_id_prefix(photos).items():
        width = max(ID_DIGITS, len(str(len(group))))
        rows += [{"product_id": f"{prefix}-{number:0{width}d}", "title": f"{photo.parent.name} {number}",
                  "image": _relative(photo, catalogue_dir), "category": photo.parent.name}
                 for number, photo in enumerate(group, start=1)]
    return pd.DataFrame(rows, columns=["product_id", "title", "image", "category"])


def write_catalogue_from_folders(folder: str | Path, out: str | Path) -> tuple[Path, pd.DataFrame]:
    """Write `out` (a .csv file, or a folder that gets catalogue.csv); refuses to overwrite a file."""
    file = new_catalogue_file(out)
    frame = catalogue_from_folders(folder, file.parent)
    file.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(file, index=False)
    return file, frame


def new_catalogue_file(out: str | Path) -> Path:
    """The catalogue file a command is to write: `out` itself (a .csv) or catalogue.csv in the folder `out`;
    an existing file is refused (a store's catalogue is never overwritten by a generated one)."""
    out = Path(out)
    file = out if out.suffix.lower() == ".csv" else out / "catalogue.csv"
    if file.exists():
        raise CatalogueError(f"{file}: already exists; remove it or choose another --out")
    return file


def _by_id_prefix(photos: list[Path]) -> dict[str, list[Path]]:
    """Photos grouped by the id prefix of their folder name ("t-shirt" -> "tshirt"), in path order;
    folders whose names make the same prefix share one numbering, so ids stay unique."""
    groups: dict[str, list[Path]] = {}
    for photo in photos:
        prefix = re.sub(r"[^a-z0-9]+", "", photo.parent.name.lower())[:MAX_PREFIX] or "photo"
        groups.setdefault(prefix, []).append(photo)
    return groups


def _relative(photo: Path, catalogue_dir: Path) -> str:
    try:
        return Path(os.path.relpath(photo.resolve(), catalogue_dir.resolve())).as_posix()
    except ValueError:  # another drive (Windows): only an absolute path reaches it
        return photo.resolve().as_posix()
