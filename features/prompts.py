"""Words for products: attribute phrases for training, prompt templates for zero-shot labels."""
from __future__ import annotations

import random

# Catalogue labels that read badly in a sentence.
_READABLE = {"Tshirts": "t-shirt", "Tops": "top", "Jeans": "jeans", "Trousers": "trousers",
             "Shorts": "shorts", "Leggings": "leggings", "Sunglasses": "sunglasses"}


def readable(label: str) -> str:
    """'Casual Shoes' -> 'casual shoes'; known plurals become singular nouns."""
    if label in _READABLE:
        return _READABLE[label]
    return label.lower()


def attribute_phrase(row, rng: random.Random | None = None) -> str:
    """A sentence such as 'a red casual t-shirt for women' from a product's attributes.

    With an rng, attributes are left out at random so the text encoder learns each on its own.
    """
    keep = (lambda: rng.random() < 0.7) if rng else (lambda: True)
    colour = _value(row, "baseColour")
    usage = _value(row, "usage")
    gender = _value(row, "gender")
    article = readable(_value(row, "articleType") or "product")
    words = ["a"]
    if colour and keep():
        words.append(colour.lower())
    if usage and keep():
        words.append(usage.lower())
    words.append(article)
    if gender and keep():
        words.append(f"for {gender.lower()}")
    return " ".join(words)


def training_text(row, title: str, rng: random.Random) -> str:
    """Half the time the title, otherwise an attribute phrase (as the encoder is trained)."""
    return title if rng.random() < 0.5 else attribute_phrase(row, rng)


ARTICLE_TEMPLATES = ("a photo of a {article}", "a {article}")
COLOUR_TEMPLATES = ("a {colour} {article}", "a photo of a {colour} {article}")


def article_prompts(article: str) -> list[str]:
    return [t.format(article=readable(article)) for t in ARTICLE_TEMPLATES]


def colour_prompts(colour: str, article: str) -> list[str]:
    return [t.format(colour=colour.lower(), article=readable(article)) for t in COLOUR_TEMPLATES]


def _value(row, column: str) -> str:
    try:
        value = row[column]
    except (KeyError, IndexError):
        return ""
    return "" if value is None or str(value) in ("", "nan", "NA") else str(value)
