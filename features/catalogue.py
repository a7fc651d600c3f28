"""A store's catalogue: one row per product, attribute columns, and a photo per product.

Format (as fashion-small's catalogue.csv): `product_id` (integer), `title`, any attribute
columns, `image` (a path relative to the catalogue file's folder). CSV or Parquet.
Loading validates everything and names every bad row; nothing is silently dropped.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from PIL import Image

from features.errors import CatalogueError, ImageError
from features.images import MAX_IMAGE_PIXELS, open_image

REQUIRED_COLUMNS = ("product_id", "title", "image")
# Attribute columns the prompts and the simulator understand; others are kept as they are.
KNOWN_ATTRIBUTES = ("masterCategory", "subCategory", "articleType", "baseColour", "usage", "gender", "season")
CATALOGUE_FILE_NAMES = ("catalogue.csv", "catalogue.parquet")


@dataclass
class Catalogue:
    """Validated products (indexed by product_id) and the folder their image paths are relative to."""

    products: pd.DataFrame
    root: Path

    def __len__(self) -> int:
        return len(self.products)

    @property
    def ids(self) -> list[int]:
        return [int(i) for i in self.products.index]

    @property
    def attribute_columns(self) -> list[str]:
        return [c for c in self.products.columns if c not in ("title", "image")]

    def image_path(self, product_id: int) -> Path:
        return self.root / str(self.products.at[product_id, "image"])

    def load_image(self, product_id: int) -> Image.Image:
        try:
            return open_image(self.image_path(product_id))
        except ImageError as exc:
            raise CatalogueError(f"product {product_id}: {exc}") from None

    def text(self, product_id: int) -> str:
        return str(self.products.at[product_id, "title"])

    def content_hash(self, product_id: int) -> str:
        """Hash of what the encoder sees of a product: its image bytes and its text."""
        row = self.products.loc[product_id]
        fields = {column: row[column] for column in ["title", *self.attribute_columns]}
        return product_content_hash(self.image_path(product_id).read_bytes(), fields)

    def subset(self, product_ids) -> "Catalogue":
        return Catalogue(self.products.loc[list(product_ids)], self.root)


def product_content_hash(image_bytes: bytes, fields: dict) -> str:
    """Content hash of one product from its photo's bytes and its text fields, in the given order.

    Shared by catalogue files and products changed through the service, so both hash alike."""
    digest = hashlib.sha256(image_bytes)
    for column, value in fields.items():
        digest.update(f"\x00{column}={value}".encode())
    return digest.hexdigest()


def find_catalogue_file(path: str | Path) -> Path:
    """Accept a catalogue file, or a folder holding catalogue.csv / catalogue.parquet."""
    path = Path(path)
    if path.is_dir():
        for name in CATALOGUE_FILE_NAMES:
            if (path / name).exists():
                return path / name
        raise CatalogueError(f"{path}: no {' or '.join(CATALOGUE_FILE_NAMES)} in this folder")
    if not path.exists():
        raise CatalogueError(f"{path}: catalogue file not found")
    return path


def load_catalogue(path: str | Path, check_images: bool = True, image_root: str | Path | None = None) -> Catalogue:
    """Load and validate a catalogue. Raises CatalogueError naming every bad row."""
    file = find_catalogue_file(path)
    frame = _read_table(file)
    _check_columns(frame, file)
    problems = _row_problems(frame)
    root = Path(image_root) if image_root else file.parent
    if check_images:
        problems += _image_problems(frame, root)
    if problems:
        raise CatalogueError(f"{file}: {len(problems)} problem(s) in the catalogue", problems)
    frame = frame.assign(product_id=frame["product_id"].astype("int64"), title=frame["title"].str.strip())
    return Catalogue(frame.set_index("product_id", drop=True), root)


def _read_table(file: Path) -> pd.DataFrame:
    try:
        if file.suffix.lower() == ".parquet":
            frame = pd.read_parquet(file)
        elif file.suffix.lower() == ".csv":
            frame = pd.read_csv(file, dtype=str, keep_default_na=False)
        else:
            raise CatalogueError(f"{file}: unsupported catalogue type {file.suffix!r}; expected .csv or .parquet")
    except CatalogueError:
        raise
    except Exception as exc:
        raise CatalogueError(f"{file}: cannot parse catalogue ({type(exc).__name__}: {exc})") from None
    return frame.fillna("").astype({c: str for c in frame.columns if c != "product_id"})


def _check_columns(frame: pd.DataFrame, file: Path) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise CatalogueError(
            f"{file}: missing required column(s) {missing}; found {list(frame.columns)}, "
            f"expected at least {list(REQUIRED_COLUMNS)}"
        )


def _row_problems(frame: pd.DataFrame) -> list[str]:
    """Rows are numbered as in the file: header is line 1, first product line 2."""
    problems = []
    ids = pd.to_numeric(frame["product_id"], errors="coerce")
    for position in frame.index[ids.isna() | (ids != ids.round())]:
        problems.append(f"line {position + 2}: product_id {frame.at[position, 'product_id']!r} is not an integer")
    for product_id, group in frame[ids.notna()].groupby(ids[ids.notna()]).groups.items():
        if len(group) > 1:
            lines = ", ".join(str(p + 2) for p in group)
            problems.append(f"lines {lines}: duplicate product_id {int(product_id)}")
    for position in frame.index[frame["title"].astype(str).str.strip() == ""]:
        problems.append(f"line {position + 2}: product {frame.at[position, 'product_id']}: empty title")
    for position in frame.index[frame["image"].astype(str).str.strip() == ""]:
        problems.append(f"line {position + 2}: product {frame.at[position, 'product_id']}: empty image path")
    return problems


def _image_problems(frame: pd.DataFrame, root: Path) -> list[str]:
    """Check each image's header (type, size) without decoding its pixels."""
    problems = []
    for position, product_id, relative in zip(frame.index, frame["product_id"], frame["image"]):
        if not str(relative).strip():
            continue
        path = root / str(relative)
        try:
            _check_image_header(path)
        except ImageError as exc:
            problems.append(f"line {position + 2}: product {product_id}: {exc}")
    return problems


def _check_image_header(path: Path) -> None:
    if not path.is_file():
        raise ImageError(f"{path}: image file not found")
    try:
        with Image.open(path) as image:
            width, height = image.size
            kind = image.format
    except Image.DecompressionBombError:
        raise ImageError(f"{path}: image too large (decompression bomb guard)") from None
    except Exception as exc:
        raise ImageError(f"{path}: not a readable image ({type(exc).__name__})") from None
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageError(f"{path}: image is {width}x{height}; the limit is {MAX_IMAGE_PIXELS} pixels")
    if kind is None:
        raise ImageError(f"{path}: unknown image type")
