"""A product's categories, from whatever columns a catalogue names them by (none are required).

    product_categories({"articleType": "Shirts", "category": "Men > Tops"})   # ['shirts', 'men', 'men > tops']

The one place that knows which attribute names mean "category": the merchant's switches (service) and anyone
else that groups products by category read them through here, so no other code names a catalogue column.
Names are compared ignoring case, spaces, `_` and `-`, so `Product Type` is `product_type`; a folder
catalogue's `category` (features.catalogue_folders) is one. A breadcrumb value ("Apparel > Clothing > Shirts")
is each of its levels and each of its prefixes. Category text is compared normalized: trimmed, inner spaces
collapsed, casefolded. A catalogue with none of these attributes simply has no categories.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

BREADCRUMB = ">"
# attribute names (normalized: lower case, letters and digits only) whose values are a product's categories
CATEGORY_ATTRIBUTES = frozenset({"category", "productcategory", "producttype", "type", "articletype", "subcategory",
                                 "mastercategory", "department", "aisle"})


def product_categories(attributes: Mapping | None) -> list[str]:
    """A product's categories (normalized) from its attributes: the values of the CATEGORY_ATTRIBUTES,
    each breadcrumb level and prefix included. Empty when the catalogue has no category column."""
    values = [value for name, value in (attributes or {}).items()
              if _attribute_name(name) in CATEGORY_ATTRIBUTES and isinstance(value, str)]
    return category_keys(values)


def normalize_category(text: str) -> str:
    """Trimmed, inner whitespace collapsed, casefolded; breadcrumb separators spaced as " > "."""
    parts = [" ".join(part.split()) for part in str(text).split(BREADCRUMB)]
    return f" {BREADCRUMB} ".join(parts).casefold().strip()


def category_keys(values: Iterable[str]) -> list[str]:
    """Normalized category keys of some category texts: each breadcrumb level and each leading path."""
    keys: list[str] = []
    for value in values:
        if not isinstance(value, str) or not value.strip():
            continue
        levels = [level for level in normalize_category(value).split(f" {BREADCRUMB} ") if level]
        keys += levels + [f" {BREADCRUMB} ".join(levels[:end]) for end in range(2, len(levels) + 1)]
    return list(dict.fromkeys(keys))


def _attribute_name(name) -> str:
    return "".join(c for c in str(name).lower() if c.isalnum())
