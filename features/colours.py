"""Which colours a product comes in, from the optional catalogue attribute `colours` (or `colors`).

    product_colours({"colours": "Navy Blue|Black|Forest:#228b22"})   # [ProductColour("Navy Blue", (31, 42, 68)), ...]
    product_colours({"brand": "Acme"})                                # []: no colours listed, no previews
    colour_named(colours, "navy-blue")                                # the listed colour a URL names, or None

The cell lists colours separated by `|` or `;`. Each is a colour name of the table below (any case, spaces and
hyphens ignored: "navy blue", "Navy-Blue"), a hex code (`#1a2b3c`, `#abc`), or a name given its own hex code
(`Forest:#228b22`). A name of no single colour ("Multi", "Metallic") is listed but has no preview, with the reason.
Like every attribute, the column is optional: a store without it has no colour previews, nothing else changes.

The table holds the names fashion catalogues use (fashion-small's `baseColour`: Navy Blue, Off White, Mustard,
Skin, ...) as the shades garments are sold in, then the CSS colour names (Pillow's table). A garment sold as
Black photographs as a very dark grey, so the table's Black is #1f1f1f: recolouring toward pure #000000 would
crush every fold of the product to one flat black.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from PIL import ImageColor

from features.errors import TailorcardError
from features.ids import echo

COLOURS_ATTRIBUTE = "colours"
ATTRIBUTE_NAMES = (COLOURS_ATTRIBUTE, "colors")  # the first present wins
SEPARATOR = re.compile(r"[|;]")
HEX_CODE = re.compile(r"#(?:[0-9A-Fa-f]{6}|[0-9A-Fa-f]{3})")
NAME = re.compile(r"[A-Za-z][A-Za-z0-9 '-]{0,39}")  # ASCII: it travels in a header (X-Colour-Preview)
MAX_COLOURS = 32
EXPECTED = ("colour names separated by '|' or ';', each a known name (e.g. Navy Blue, Off White, teal), a hex code "
            "(#1a2b3c) or a name with its hex code (Forest:#228b22)")

# Garment shades of the names fashion catalogues use (every baseColour of fashion-small, and a few more).
FASHION_COLOURS = {
    "Black": "#1f1f1f", "White": "#f5f5f3", "Off White": "#f2eee3", "Cream": "#f1e6cc", "Ivory": "#f3efe0",
    "Grey": "#8a8a8a", "Grey Melange": "#9c9c9c", "Charcoal": "#36393d", "Silver": "#c0c0c0", "Steel": "#7b8794",
    "Blue": "#2f5da8", "Navy Blue": "#1f2a44", "Navy": "#1f2a44", "Turquoise Blue": "#1fa6b8", "Teal": "#1c7c7d",
    "Sky Blue": "#7fb5e0", "Denim": "#3b5b84", "Indigo": "#2e3a6e", "Red": "#c0262d", "Maroon": "#6d1a2a",
    "Burgundy": "#6a1b2d", "Wine": "#5c1a2b", "Rust": "#a8461f", "Pink": "#e88aa8", "Rose": "#d8677f",
    "Peach": "#f4b59a", "Coral": "#f07b66", "Magenta": "#c2187c", "Purple": "#5e3a87", "Lavender": "#b7a6d6",
    "Mauve": "#a57c93", "Green": "#2e7d32", "Olive": "#6b6b2e", "Sea Green": "#2e8b6e", "Lime Green": "#7fc31c",
    "Fluorescent Green": "#8aff00", "Mint": "#a8dcc3", "Yellow": "#f2c81b", "Mustard": "#d4a017",
    "Orange": "#ec7a21", "Gold": "#c9a236", "Bronze": "#8c6239", "Copper": "#b06a3b", "Brown": "#6b4423",
    "Coffee Brown": "#4b3326", "Mushroom Brown": "#a08c7a", "Tan": "#c19a6b", "Camel": "#b58a58",
    "Khaki": "#b5a37a", "Beige": "#d8c3a5", "Taupe": "#8b7d6b", "Skin": "#e2b79a", "Nude": "#e3bca4",
}
# Names a product comes in that are no single colour: listed, never previewed.
NO_SINGLE_COLOUR = {
    "multi": "names several colours", "multicolour": "names several colours", "multicolor": "names several colours",
    "assorted": "names several colours", "metallic": "is a finish, not a colour",
    "transparent": "has no colour of its own", "clear": "has no colour of its own",
}


class ColourError(TailorcardError):
    """A `colours` cell that cannot be read: what was given and what is expected."""


@dataclass(frozen=True)
class ProductColour:
    name: str  # as the store wrote it ("Navy Blue", "Forest", "#1a2b3c")
    rgb: tuple[int, int, int] | None  # sRGB; None: the name is no single colour
    no_preview: str | None = None  # why there is no preview (set exactly when rgb is None)

    @property
    def slug(self) -> str:
        """How a URL names it: "navy-blue", "1a2b3c"."""
        return re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")

    @property
    def hex(self) -> str | None:
        return None if self.rgb is None else "#{:02x}{:02x}{:02x}".format(*self.rgb)


def colours_cell(attributes: Mapping) -> str:
    """The product's `colours` (or `colors`) attribute; "" when it has neither."""
    for name in ATTRIBUTE_NAMES:
        if name in attributes and attributes[name] is not None:
            return str(attributes[name])
    return ""


def product_colours(attributes: Mapping) -> list[ProductColour]:
    """The colours a product's attributes say it comes in; [] without the attribute. Raises ColourError."""
    return parse_colours(colours_cell(attributes))


def parse_colours(text: str) -> list[ProductColour]:
    """The colours of one cell, in the store's order; empty entries (a trailing '|') are skipped."""
    entries = [entry.strip() for entry in SEPARATOR.split(str(text))]
    entries = [entry for entry in entries if entry]
    if len(entries) > MAX_COLOURS:
        raise ColourError(f"colours: got {len(entries)} entries in {echo(text)}; expected at most {MAX_COLOURS}")
    colours = [_entry(entry, text) for entry in entries]
    _refuse_repeats(colours, text)
    return colours


def colour_problem(text: str) -> str | None:
    """Why a `colours` cell cannot be read; None when it can (for checks that collect every problem)."""
    try:
        parse_colours(text)
    except ColourError as exc:
        return str(exc)
    return None


def colour_named(colours: list[ProductColour], requested: str) -> ProductColour | None:
    """The listed colour `requested` names: its name or slug in any case ("Navy Blue", "navy-blue"); None if none."""
    wanted = _key(requested)
    return next((colour for colour in colours if _key(colour.name) == wanted), None)


def _entry(entry: str, cell: str) -> ProductColour:
    name, _, code = (part.strip() for part in entry.rpartition(":"))
    if HEX_CODE.fullmatch(code):
        return ProductColour(_checked_name(name, cell) if name else code.lower(), ImageColor.getrgb(code)[:3])
    if name:
        raise ColourError(f"colours: {echo(entry)} in {echo(cell)} gives {echo(code)} as its hex code; expected # "
                          "and 3 or 6 hex digits, as in Forest:#228b22")
    return _named(code, cell)


def _checked_name(name: str, cell: str) -> str:
    if not NAME.fullmatch(name):
        raise ColourError(f"colours: the name {echo(name)} in {echo(cell)} is not a colour name; expected a letter, "
                          "then up to 39 letters, digits, spaces, ' or -")
    return name


def _named(name: str, cell: str) -> ProductColour:
    key = _key(_checked_name(name, cell))
    if key in NO_SINGLE_COLOUR:
        return ProductColour(name, None, f"{name!r} {NO_SINGLE_COLOUR[key]}: there is no one colour to preview; "
                                         "the product's own photo shows it")
    rgb = _TABLE.get(key)
    if rgb is None:
        raise ColourError(f"colours: {echo(name)} in {echo(cell)} is not a colour name this table knows; expected "
                          f"{EXPECTED}")
    return ProductColour(name, rgb)


def _refuse_repeats(colours: list[ProductColour], cell: str) -> None:
    seen: dict[str, str] = {}
    for colour in colours:
        key = _key(colour.name)
        if key in seen:
            raise ColourError(f"colours: {echo(colour.name)} and {echo(seen[key])} in {echo(cell)} name the same "
                              "colour; expected each colour once")
        seen[key] = colour.name


def _key(name: str) -> str:
    """Names compare without case, spaces, hyphens or a leading #: "Navy-Blue" is "navy blue"."""
    return re.sub(r"[^a-z0-9]", "", str(name).casefold())


# name key -> sRGB: the CSS names, then the fashion names over them (a garment's Khaki is not CSS's pale one)
_TABLE = {**{_key(name): ImageColor.getrgb(name)[:3] for name in ImageColor.colormap},
          **{_key(name): ImageColor.getrgb(code)[:3] for name, code in FASHION_COLOURS.items()}}
