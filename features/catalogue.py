"""A store's catalogue: one row per product, with a photo or with text only, and any attributes.

Format
------
A file `catalogue.csv`, `catalogue.parquet` or `catalogue.jsonl` (`.ndjson`) in a folder, or such a
file given by path (`.csv`, `.tsv`, `.txt`, `.parquet`, `.jsonl`, `.ndjson`). Text is UTF-8 (a
byte-order mark is fine). A CSV's delimiter is found from its head: comma, `;`, tab or `|`; a value
holding the delimiter is quoted ("a; b"). JSON lines: one object per line, a missing key is an
empty cell, a whole number is read as its digits.

Columns, by name, in any order:

- `product_id` (required): the store's own id, e.g. a SKU "APL-001" or "1163". It follows the one
  id rule of features.ids (1-128 characters: a letter or digit, then letters, digits and
  `_ . : @ -`), and is unique. Inside, a product is known by an int64 key derived from its id
  (features.ids.product_key: "1163" is 1163, "APL-001" a hash); `Catalogue.product_id(key)` gives
  the id back as the store wrote it.
- `title` (required, never empty): the product's name, as a card shows it.
- `description` (optional): free text about the product. It is text for the encoder, not an
  attribute: a text-only product is embedded from its title and description.
- `image` (optional column, optional per row): the product's photo, as a path relative to the
  catalogue file's folder, an absolute path, a `file://` URL or an `http(s)://` URL (fetched once
  with a 10 s timeout and a 20 MB limit, and kept in `.tailorcard/image-cache/` beside the
  catalogue). A photo is JPEG, PNG, WebP, GIF or BMP of at most 25 Mpx, judged by its bytes. A
  row with no image is a text-only product: embedded through the encoder's text tower.
- Any other column is an attribute of that name (`brand`, `aisle`, `articleType`, ...), kept as
  text; an empty cell is allowed. No attribute is required to load; a feature that needs one
  (the fashion simulator's `articleType`, ...) says so itself. One is checked when present: `colours`
  (or `colors`), the colours a product comes in, for colour previews (format: features.colours).

Loading validates everything and names every bad row by its line (Parquet: row) in the file;
nothing is silently dropped, and a catalogue with no product is refused.
"""
from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from features.catalogue_table import CatalogueTable, find_catalogue_file, read_catalogue_table
from features.colours import ATTRIBUTE_NAMES as COLOUR_ATTRIBUTES, colour_problem
from features.errors import CatalogueError, ImageError
from features.ids import ID_RULE, echo, product_keys, valid_ids
from features.image_sources import ImageFetcher, is_web_url, local_image_path, url_scheme
from features.images import check_image, open_image

REQUIRED_COLUMNS = ("product_id", "title")
TEXT_COLUMNS = ("title", "description")  # what the text tower reads of a text-only product
NOT_ATTRIBUTES = ("product_id", *TEXT_COLUMNS, "image")
IMAGE_CACHE = Path(".tailorcard") / "image-cache"  # beside the catalogue file: fetched photos, by URL hash
FETCH_THREADS = 8


@dataclass
class Catalogue:
    """Validated products, indexed by int64 product key, with the store's id text in column `product_id`.

    `root` is the folder image paths are relative to; `images` fetches photos named by URL."""

    products: pd.DataFrame
    root: Path
    images: ImageFetcher = field(default_factory=ImageFetcher)

    def __len__(self) -> int:
        return len(self.products)

    @property
    def ids(self) -> list[int]:
        return [int(i) for i in self.products.index]

    @property
    def attribute_columns(self) -> list[str]:
        return _attribute_columns(self.products)

    def product_id(self, key: int) -> str:
        """The product's id as the store wrote it."""
        return self.product_ids([key])[0]

    def product_ids(self, keys) -> list[str]:
        keys = [int(k) for k in keys]
        if "product_id" not in self.products.columns:  # a frame built in code, keyed by its ids
            return [str(k) for k in keys]
        return self.products.loc[keys, "product_id"].astype(str).tolist()

    def has_image(self, key: int) -> bool:
        return bool(self._image_cell(key))

    @property
    def photo_ids(self) -> list[int]:
        """Keys of the products with a photo (what image-only features, such as training, can use)."""
        return [int(key) for key in self.products.index[self._photo_mask()]]

    @property
    def text_only_ids(self) -> list[int]:
        return [int(key) for key in self.products.index[~self._photo_mask()]]

    def image_path(self, key: int) -> Path:
        """The photo as a local file: its path, or the cached copy of its URL (fetched when needed)."""
        location = self._photo_location(key)
        try:
            return self.images.local_file(location) if is_web_url(location) else local_image_path(location, self.root)
        except ImageError as exc:
            raise CatalogueError(f"product {self.product_id(key)}: {exc}") from None

    def image_bytes(self, key: int) -> bytes:
        location = self._photo_location(key)
        try:
            return self.images.fetch(location) if is_web_url(location) else \
                _read_file(local_image_path(location, self.root))
        except ImageError as exc:
            raise CatalogueError(f"product {self.product_id(key)}: {exc}") from None

    def load_image(self, key: int) -> Image.Image:
        location = self._photo_location(key)
        web = is_web_url(location)
        try:
            source = self.images.fetch(location) if web else local_image_path(location, self.root)
            return open_image(source, name=location if web else None)
        except ImageError as exc:
            raise CatalogueError(f"product {self.product_id(key)}: {exc}") from None

    def text(self, key: int) -> str:
        """The title, as a card shows it."""
        return str(self.products.at[key, "title"])

    def embedding_text(self, key: int) -> str:
        """What the text tower reads of a text-only product: its title and description."""
        return embedding_text(*(str(self.products.at[key, c]) for c in TEXT_COLUMNS if c in self.products.columns))

    def photo_bytes(self, key: int) -> bytes:
        """The photo's bytes; none (b"") for a text-only product."""
        return self.image_bytes(key) if self.has_image(key) else b""

    def content_hash(self, key: int, photo: bytes | None = None) -> str:
        """Hash of what the encoder sees of a product: its photo's bytes (none for a text-only product)
        and its text and attributes. A catalogue without `description` hashes as before it existed.
        `photo`: the bytes of photo_bytes(key), when the caller has read them already."""
        row = self.products.loc[key]
        columns = [c for c in TEXT_COLUMNS if c in self.products.columns] + self.attribute_columns
        photo = self.photo_bytes(key) if photo is None else photo
        return product_content_hash(photo, {column: row[column] for column in columns})

    def subset(self, keys) -> "Catalogue":
        return Catalogue(self.products.loc[list(keys)], self.root, self.images)

    def _photo_mask(self) -> np.ndarray:
        return _photo_mask(self.products)

    def _image_cell(self, key: int) -> str:
        return str(self.products.at[key, "image"]).strip() if "image" in self.products.columns else ""

    def _photo_location(self, key: int) -> str:
        location = self._image_cell(key)
        if not location:
            raise CatalogueError(f"product {self.product_id(key)} has no photo (a text-only product); "
                                 f"use Catalogue.photo_ids for the products that have one")
        return location


def embedding_text(title: str, description: str = "") -> str:
    """What the text tower reads of a text-only product (a catalogue row or a product PUT through the API)."""
    return ". ".join(part for part in (title.strip(), description.strip()) if part)


def product_content_hash(image_bytes: bytes, fields: dict) -> str:
    """Content hash of one product from its photo's bytes and its text fields, in the given order.

    Shared by catalogue files and products changed through the service, so both hash alike."""
    digest = hashlib.sha256(image_bytes)
    for column, value in fields.items():
        digest.update(f"\x00{column}={value}".encode())
    return digest.hexdigest()


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"{path}: image file not found") from None
    except OSError as exc:
        raise ImageError(f"{path}: cannot read image file ({exc.strerror})") from None


# ---- loading ------------------------------------------------------------------------------------

@dataclass
class CatalogueCheck:
    """A catalogue file read and checked: its rows, how it was read, and every problem found."""

    file: Path
    format: str
    frame: pd.DataFrame  # text cells, one row per product in file order
    keys: np.ndarray  # int64 key of each row's product_id
    root: Path
    images: ImageFetcher
    problems: list[str]

    @property
    def attribute_columns(self) -> list[str]:
        return _attribute_columns(self.frame)

    @property
    def photos(self) -> int:
        return int(_photo_mask(self.frame).sum())

    @property
    def photo_urls(self) -> int:
        return int(_image_cells(self.frame).map(is_web_url).sum())

    def catalogue(self) -> Catalogue:
        if self.problems:
            raise CatalogueError(f"{self.file}: {len(self.problems)} problem(s) in the catalogue", self.problems)
        products = self.frame.set_index(pd.Index(self.keys, dtype=np.int64, name="product_key"))
        return Catalogue(products, self.root, self.images)


def _attribute_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in NOT_ATTRIBUTES]


def _photo_mask(frame: pd.DataFrame) -> np.ndarray:
    return (_image_cells(frame).astype(str).str.strip() != "").to_numpy()


def load_catalogue(path: str | Path, check_images: bool = True, image_root: str | Path | None = None,
                   images: ImageFetcher | None = None) -> Catalogue:
    """Load and validate a catalogue. Raises CatalogueError naming every bad row.

    `images` fetches URL photos (default: cached in IMAGE_CACHE beside the catalogue file)."""
    return check_catalogue(path, check_images, image_root, images).catalogue()


def check_catalogue(path: str | Path, check_images: bool = True, image_root: str | Path | None = None,
                    images: ImageFetcher | None = None) -> CatalogueCheck:
    """Read and check a catalogue, collecting every row's problem. A file that cannot be read as a
    catalogue at all (type, encoding, columns, no product) raises CatalogueError at once."""
    file = find_catalogue_file(path)
    table = read_catalogue_table(file)
    _check_columns(table.frame, file)
    if table.frame.empty:
        raise CatalogueError(f"{file}: the catalogue has no products; expected at least one product row"
                             + (f" ({len(table.problems)} unreadable: {table.problems[0]})" if table.problems else ""))
    frame = _stripped(table.frame)
    keys = product_keys(frame["product_id"])
    problems = table.problems + _row_problems(frame, keys, table)
    root = Path(image_root) if image_root else file.parent
    images = images or ImageFetcher(file.parent / IMAGE_CACHE)
    if check_images:
        problems += _image_problems(frame, table, root, images)
    return CatalogueCheck(file, table.format, frame, keys, root, images, problems)


def _check_columns(frame: pd.DataFrame, file: Path) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise CatalogueError(
            f"{file}: missing required column(s) {missing}; found {list(frame.columns)}, "
            f"expected at least {list(REQUIRED_COLUMNS)} (and optionally description, image and attributes)"
        )


def _stripped(frame: pd.DataFrame) -> pd.DataFrame:
    """Ids, text and image locations without surrounding spaces; attributes as written."""
    return frame.assign(**{c: frame[c].astype(str).str.strip() for c in NOT_ATTRIBUTES if c in frame.columns})


def _image_cells(frame: pd.DataFrame) -> pd.Series:
    return frame["image"] if "image" in frame.columns else pd.Series("", index=frame.index)


def _row_problems(frame: pd.DataFrame, keys: np.ndarray, table: CatalogueTable) -> list[str]:
    ids = frame["product_id"]
    problems = [f"{table.where(p)}: empty product_id" for p in frame.index[ids == ""]]
    problems += [f"{table.where(p)}: product_id {echo(ids[p])} is not an id ({ID_RULE})"
                 for p in frame.index[(ids != "") & ~valid_ids(ids)]]
    problems += _duplicate_problems(ids, table)
    problems += _key_collisions(ids, keys, table)
    problems += [f"{table.where(p)}: product {ids[p]}: empty title" for p in frame.index[frame["title"] == ""]]
    problems += [f"{table.where(p)}: product {ids[p]}: {problem}"
                 for p, problem in _image_cells(frame).map(_location_problem).dropna().items()]
    problems += [f"{table.where(p)}: product {ids[p]}: {problem}"
                 for p, problem in _colour_cells(frame).map(colour_problem).dropna().items()]
    return problems


def _colour_cells(frame: pd.DataFrame) -> pd.Series:
    """The optional `colours` (or `colors`) attribute, checked when present: previews rely on it (features.colours)."""
    column = next((name for name in COLOUR_ATTRIBUTES if name in frame.columns), None)
    return frame[column].astype(str) if column else pd.Series(dtype=object)


def _location_problem(location: str) -> str | None:
    scheme = url_scheme(location)
    if scheme in (None, "file", "http", "https"):
        return None
    return f"image {echo(location)}: {scheme}:// is not supported; expected a file path, a file:// or an http(s) URL"


def _duplicate_problems(ids: pd.Series, table: CatalogueTable) -> list[str]:
    repeated = ids[(ids != "") & ids.duplicated(keep=False)]
    return [f"{table.where_all(positions)}: duplicate product_id {echo(product_id)}"
            for product_id, positions in repeated.groupby(repeated, sort=False).groups.items()]


def _key_collisions(ids: pd.Series, keys: np.ndarray, table: CatalogueTable) -> list[str]:
    """Two different ids with one key: a hash collision (about 1 in 2**62 per pair), refused, not merged."""
    distinct = pd.Series(keys, index=ids.index)[valid_ids(ids) & ~ids.duplicated()]
    clashing = distinct[distinct.duplicated(keep=False)]
    return [f"{table.where_all(positions)}: product_ids {', '.join(echo(ids[p]) for p in positions)} share the "
            f"int64 key {key} (a hash collision); rename one of them"
            for key, positions in clashing.groupby(clashing, sort=False).groups.items()]


def _image_problems(frame: pd.DataFrame, table: CatalogueTable, root: Path, images: ImageFetcher) -> list[str]:
    """Check each photo's type and size from its header; URLs are fetched (in parallel, once each)."""
    cells = _image_cells(frame)
    urls = sorted({cell for cell in cells if is_web_url(cell)})
    with ThreadPoolExecutor(FETCH_THREADS) as pool:
        fetched = dict(zip(urls, pool.map(lambda url: _image_problem(url, root, images), urls)))
    problems = []
    for position, location in cells[cells != ""].items():
        problem = fetched[location] if location in fetched else _image_problem(location, root, images)
        if problem:
            problems.append(f"{table.where(position)}: product {frame.at[position, 'product_id']}: {problem}")
    return problems


def _image_problem(location: str, root: Path, images: ImageFetcher) -> str | None:
    if _location_problem(location):
        return None  # reported with the row
    try:
        if is_web_url(location):
            images.fetch(location)
        else:
            check_image(local_image_path(location, root))
    except ImageError as exc:
        return str(exc)
    return None
