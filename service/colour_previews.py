"""The colour preview use cases (service.api.items, service.cards): the colours a product comes in, as its
catalogue row lists them (features.colours), and its photo previewed in one of them.

    listed_colours(sku)                 # [{"name", "hex", "preview_url", "label", "reason"}]; [] when none listed
    colour_preview(sku, name, etags)    # {"image": PNG, "etag", "name"}; None when the client's copy is current
    card_colours(card)                  # {"colours": [...]} for a card whose product lists colours, else {}

NotFound (404) for an unknown product or a colour it does not come in (the message lists those it does);
ColourPreviewRefused (no single colour, no photo, no trusted matte) and ColourError (a `colours` cell that
cannot be read) say why there is no preview.

Previews are cheap (Lab arithmetic on one card-size photo, no diffusion: about 0.1 s), so they are made on
request, never queued or stored: each app keeps the last PREVIEW_CACHE_SIZE in memory, keyed by the photo's
content hash and the colour, so a changed photo (a new hash) never finds an old preview.
"""
from __future__ import annotations

from collections.abc import Container

from flask import url_for

from features.colours import ProductColour, colour_named, product_colours
from features.errors import TailorcardError
from features.ids import echo
from features.images import open_image
from imagegen.matte.inference import installed_matte_model
from imagegen.presentation.colour_preview import (VERSION, ColourPreviewRefused, colour_preview as make_preview,
                                                  preview_label)
from service.catalogue_changes import product
from service.deps import deps
from service.errors import NotFound
from service.image_cache import cached_image

PREVIEW_CACHE_SIZE = 128  # PNGs at card size, ~50-200 KB each
_TEXT_ONLY = "a text-only product has no photo to preview"


def listed_colours(sku: str) -> list[dict]:
    """The colours the live product `sku` comes in, each with its preview URL (None, with the reason, when there
    can be none); [] when its row lists none. Raises ColourError for a cell that cannot be read."""
    row = product(sku)
    return [_described(row["sku"], colour, row["has_photo"]) for colour in product_colours(row["attributes"])]


def card_colours(card: dict) -> dict:
    """{"colours": [...]} for a card whose product lists colours, else {} (the card is unchanged). A cell that
    cannot be read leaves the card without colours: cards never fail; GET .../colours says what is wrong."""
    try:
        colours = product_colours(card["product"]["attributes"])
    except TailorcardError:
        return {}
    sku = card["product"]["id"]
    return {"colours": [_described(sku, colour, card["has_photo"]) for colour in colours]} if colours else {}


def colour_preview(sku: str, name: str, etags: Container[str] = ()) -> dict | None:
    """{"image": PNG bytes, "etag", "name"} of the product's photo in the listed colour `name` (its name or slug);
    None when `etags` (the client's) hold the preview's ETag: then the photo is not read."""
    row = product(sku)
    colour = _listed(row, name)
    if colour.no_preview or not row["has_photo"]:
        raise ColourPreviewRefused(colour.no_preview or _TEXT_ONLY)
    etag = f"{row['content_hash']}-{colour.slug}-{colour.hex[1:]}-{VERSION.replace('/', '')}"
    if etag in etags:
        return None
    row = product(sku, with_image=True)  # the photo of the same content: a change since gives another ETag
    image = cached_image("colour_previews", (row["content_hash"], colour), lambda: _made(row, colour),
                         PREVIEW_CACHE_SIZE)
    return {"image": image, "etag": etag, "name": colour.name}


def matte_model():
    """The matte scene cards use (the presenter's), else the shipped one when installed; None: plain backdrops only."""
    presenter = getattr(deps().variants, "presenter", None)
    return presenter.matte_model if presenter is not None else installed_matte_model()


def _described(sku: str, colour: ProductColour, has_photo: bool) -> dict:
    reason = colour.no_preview or (None if has_photo else _TEXT_ONLY)
    return {"name": colour.name, "hex": colour.hex, "reason": reason,
            "preview_url": None if reason else url_for("items.colour_preview", item_id=sku, name=colour.slug),
            "label": None if reason else preview_label(colour.name)}


def _listed(row: dict, name: str) -> ProductColour:
    colours = product_colours(row["attributes"])
    colour = colour_named(colours, name)
    if colour is None:
        listed = ", ".join(c.name for c in colours) if colours else "none: its row lists no colours"
        raise NotFound(f"product {echo(row['sku'])} does not come in {echo(name)}; the colours it comes in: {listed}")
    return colour


def _made(row: dict, colour: ProductColour) -> bytes:
    preview = make_preview(open_image(row["image"]), colour, matte_model(), row["content_hash"], row["sku"])
    return preview.png()
