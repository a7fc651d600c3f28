"""A catalogue file read into a table of text: CSV (any common delimiter), Parquet or JSON lines.

Every cell becomes text ("" when missing) and every row keeps the line (or Parquet row) it came
from, so a problem can name it. Rows that cannot be read at all become problems, never gaps.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from features.errors import CatalogueError
from features.events import id_column
from features.ids import echo

CATALOGUE_FILE_NAMES = ("catalogue.csv", "catalogue.parquet", "catalogue.jsonl", "catalogue.ndjson")
CSV_SUFFIXES, JSON_LINES_SUFFIXES = (".csv", ".tsv", ".txt"), (".jsonl", ".ndjson")
DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "';'", "\t": "tab", "|": "'|'"}
SNIFF_CHARACTERS = 64 * 1024
ID_COLUMN = "product_id"  # the column the delimiter is recognised by


@dataclass
class CatalogueTable:
    """Cells as text; `numbers[i]` is the line (or row) of row i in the file, `unit` says which."""

    frame: pd.DataFrame
    format: str
    unit: str
    numbers: list[int]
    problems: list[str] = field(default_factory=list)

    def where(self, position: int) -> str:
        return f"{self.unit} {self.numbers[position]}"

    def where_all(self, positions) -> str:
        return f"{self.unit}s {', '.join(str(self.numbers[p]) for p in positions)}"


def find_catalogue_file(path: str | Path) -> Path:
    """Accept a catalogue file, or a folder holding one of CATALOGUE_FILE_NAMES."""
    path = Path(path)
    if path.is_dir():
        for name in CATALOGUE_FILE_NAMES:
            if (path / name).exists():
                return path / name
        raise CatalogueError(f"{path}: no {', '.join(CATALOGUE_FILE_NAMES)} in this folder")
    if not path.is_file():
        raise CatalogueError(f"{path}: catalogue file not found")
    return path


def read_catalogue_table(file: Path) -> CatalogueTable:
    suffix = file.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return _read_csv(file)
    if suffix in JSON_LINES_SUFFIXES:
        return _read_json_lines(file)
    if suffix == ".parquet":
        return _read_parquet(file)
    raise CatalogueError(f"{file}: unsupported catalogue type {file.suffix!r}; expected "
                         f"{', '.join(CSV_SUFFIXES + JSON_LINES_SUFFIXES)} or .parquet")


# ---- CSV --------------------------------------------------------------------------------------

def _read_csv(file: Path) -> CatalogueTable:
    text = _utf8_text(file)
    delimiter = sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        names = _column_names(next(reader, None), file)
        rows, numbers, problems = _csv_rows(reader, len(names), delimiter)
    except csv.Error as exc:
        raise CatalogueError(f"{file}: cannot parse as CSV near line {reader.line_num} ({exc})") from None
    frame = pd.DataFrame(rows, columns=names, dtype=object) if rows else pd.DataFrame(columns=names, dtype=object)
    return CatalogueTable(frame, f"CSV, {DELIMITER_NAMES[delimiter]}-separated", "line", numbers, problems)


def sniff_delimiter(text: str) -> str:
    """csv.Sniffer's guess on the head; when another delimiter splits a `product_id` out of the
    header line and the guess does not, that one (the Sniffer is fooled by commas in titles)."""
    head = text[:SNIFF_CHARACTERS]
    try:
        sniffed = csv.Sniffer().sniff(head, delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        sniffed = ","
    header = head.splitlines()[0] if head else ""
    for candidate in (sniffed, *DELIMITERS):
        if ID_COLUMN in (name.strip() for name in next(csv.reader([header], delimiter=candidate), [])):
            return candidate
    return sniffed


def _column_names(header: list[str] | None, file: Path) -> list[str]:
    if header is None:
        raise CatalogueError(f"{file}: the file is empty; expected a header line, then one line per product")
    names = [name.strip() for name in header]
    for number, name in enumerate(names, start=1):
        if not name:
            raise CatalogueError(f"{file}: column {number} of the header has no name; every column needs one")
        if names.index(name) != number - 1:
            raise CatalogueError(f"{file}: column {name!r} appears twice in the header "
                                 f"(columns {names.index(name) + 1} and {number})")
    return names


def _csv_rows(reader, width: int, delimiter: str) -> tuple[list[list[str]], list[int], list[str]]:
    """Rows of the header's width; a row of another width is a problem (and not read further, as
    its values cannot be told apart); blank lines are skipped."""
    rows, numbers, problems = [], [], []
    start = reader.line_num + 1
    for fields in reader:
        line, start = start, reader.line_num + 1
        if not any(f.strip() for f in fields):
            continue
        if len(fields) != width:
            problems.append(f"line {line}: {len(fields)} values, but the header has {width} columns "
                            f"(a {DELIMITER_NAMES[delimiter]} inside a value needs quotes)")
            continue
        rows.append(fields)
        numbers.append(line)
    return rows, numbers, problems


def _utf8_text(file: Path) -> str:
    data = file.read_bytes()
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise CatalogueError(f"{file}: the file is UTF-16 text; save it as UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise CatalogueError(f"{file}: not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); "
                             f"save the file as UTF-8") from None


# ---- JSON lines and Parquet ---------------------------------------------------------------------

def _read_json_lines(file: Path) -> CatalogueTable:
    """One JSON object per line; a key missing from a line is an empty cell."""
    records, numbers, problems = [], [], []
    for number, line in enumerate(_utf8_text(file).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"line {number}: not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(record, dict):
            problems.append(f"line {number}: expected a JSON object {{...}}; got {echo(record)}")
            continue
        records.append(record)
        numbers.append(number)
    return CatalogueTable(_as_text(pd.DataFrame(records)), "JSON lines", "line", numbers, problems)


def _read_parquet(file: Path) -> CatalogueTable:
    try:
        frame = pd.read_parquet(file)
    except Exception as exc:  # pyarrow raises many types for a file that is not Parquet
        raise CatalogueError(f"{file}: cannot parse as Parquet ({type(exc).__name__}: {exc})") from None
    frame = frame.rename(columns=str).reset_index(drop=True)
    return CatalogueTable(_as_text(frame), "Parquet", "row", list(range(1, len(frame) + 1)))


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Typed cells as text. A product id that is neither text nor a whole number (true, 1.5) becomes
    features.events.NOT_AN_ID, which the id rule refuses, as it does an event's item_id."""
    text = {column: frame[column].map(_cell_text) for column in frame.columns if column != ID_COLUMN}
    if ID_COLUMN in frame.columns:
        text[ID_COLUMN] = id_column(frame[ID_COLUMN]).astype(object)
    return pd.DataFrame(text, columns=list(frame.columns), index=frame.index)


def _cell_text(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
