"""Zero-shot quality of an encoder: the numbers `tailorcard bench encoder` and training logs print."""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from features.prompts import article_prompts, colour_prompts
from features.vectors import unit_rows

TextEncoder = Callable[[list[str]], np.ndarray]


def prompt_classifier(labels: list[str], prompts_for: Callable[[str], list[str]], encode_texts: TextEncoder) -> np.ndarray:
    """One unit vector per label: the mean of its prompts' text vectors (prompt ensembling)."""
    prompts = [prompts_for(label) for label in labels]
    flat = encode_texts([p for group in prompts for p in group])
    per_label = flat.reshape(len(labels), len(prompts[0]), -1).mean(axis=1)
    return unit_rows(per_label, dtype=per_label.dtype)


def zero_shot_article(image_vectors: np.ndarray, labels: list[str], encode_texts: TextEncoder) -> np.ndarray:
    classifier = prompt_classifier(labels, article_prompts, encode_texts)
    return np.asarray(labels)[np.argmax(image_vectors @ classifier.T, axis=1)]


def zero_shot_colour(image_vectors: np.ndarray, articles: np.ndarray, colours: list[str], encode_texts: TextEncoder) -> np.ndarray:
    """Colour with 'a {colour} {article}' prompts, the article being the zero-shot *predicted* one."""
    predicted = np.empty(len(image_vectors), dtype=object)
    for article in np.unique(articles):
        rows = np.flatnonzero(articles == article)
        classifier = prompt_classifier(colours, lambda c: colour_prompts(c, article), encode_texts)
        predicted[rows] = np.asarray(colours)[np.argmax(image_vectors[rows] @ classifier.T, axis=1)]
    return predicted


def text_to_image_recall(image_vectors: np.ndarray, text_vectors: np.ndarray, k: int = 10) -> float:
    """Share of texts whose own image is among the k images nearest to the text."""
    scores = text_vectors @ image_vectors.T
    own = np.diag(scores)[:, None]
    rank = (scores > own).sum(axis=1)
    return float((rank < k).mean())


def encoder_quality(image_vectors: np.ndarray, products: pd.DataFrame, encode_texts: TextEncoder) -> dict:
    """Zero-shot articleType / baseColour top-1 and title-to-image recall@10 over `products` rows."""
    article_labels = sorted(products["articleType"].unique())
    colour_labels = sorted(c for c in products["baseColour"].unique() if c)
    articles = zero_shot_article(image_vectors, article_labels, encode_texts)
    has_colour = (products["baseColour"] != "").to_numpy()
    colours = zero_shot_colour(image_vectors[has_colour], articles[has_colour], colour_labels, encode_texts)
    titles = encode_texts(products["title"].tolist())
    return {
        "articletype_top1": float((articles == products["articleType"].to_numpy()).mean()),
        "basecolour_top1": float((colours == products["baseColour"].to_numpy()[has_colour]).mean()),
        "text_to_image_recall_at_10": text_to_image_recall(image_vectors, titles, 10),
    }
