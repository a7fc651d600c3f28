"""Zero-shot quality of an encoder: the numbers `tailorcard bench encoder` and training logs print."""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from features.categories import product_categories
from features.prompts import article_prompts, colour_prompts
from features.vectors import unit_rows

TextEncoder = Callable[[list[str]], np.ndarray]
SAME_CATEGORY_K = 5


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


def same_category_at_k(image_vectors: np.ndarray, categories: list[tuple[str, ...]],
                       k: int = SAME_CATEGORY_K) -> tuple[float, float]:
    """(share of a photo's k nearest other photos that have its categories, the share chance gives), over the
    products with a category: whether the image space groups a store's kinds of product, as ranking by a
    shopper's taste needs. Chance is the sum of the categories' squared shares."""
    labelled = np.flatnonzero([bool(c) for c in categories])
    labels = np.asarray([" | ".join(categories[i]) for i in labelled])
    vectors = unit_rows(image_vectors[labelled])
    scores = vectors @ vectors.T
    np.fill_diagonal(scores, -np.inf)
    nearest = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    _, counts = np.unique(labels, return_counts=True)
    return float((labels[nearest] == labels[:, None]).mean()), float(((counts / counts.sum()) ** 2).sum())


# zero-shot score -> the attribute column it needs (a catalogue without it simply has no such score)
ZERO_SHOT_COLUMNS = {"articletype_top1": "articleType", "basecolour_top1": "baseColour"}


def encoder_quality(image_vectors: np.ndarray, products: pd.DataFrame, encode_texts: TextEncoder) -> dict:
    """Title-to-image recall@10 over `products` rows, and zero-shot top-1 of the attributes the products
    have: `articletype_top1` with an articleType column, `basecolour_top1` with a baseColour column
    (prompted with the predicted article type, or "product" without one). Empty labels are not scored. With
    category columns (features.categories, any store's), `same_category_at_5` and its chance level."""
    scores = {}
    articles = np.full(len(products), "product", dtype=object)
    if _labelled(products, "articleType").any():
        articles = zero_shot_article(image_vectors, _labels(products, "articleType"), encode_texts)
        scores["articletype_top1"] = _top1(articles, products, "articleType")
    has_colour = _labelled(products, "baseColour")
    if has_colour.any():
        colours = np.empty(len(products), dtype=object)
        colours[has_colour] = zero_shot_colour(image_vectors[has_colour], articles[has_colour],
                                               _labels(products, "baseColour"), encode_texts)
        scores["basecolour_top1"] = _top1(colours, products, "baseColour")
    titles = encode_texts(products["title"].tolist())
    scores["text_to_image_recall_at_10"] = text_to_image_recall(image_vectors, titles, 10)
    categories = [tuple(product_categories(row)) for row in products.drop(columns=["title"]).to_dict("records")]
    if sum(map(bool, categories)) > SAME_CATEGORY_K:
        scores["same_category_at_5"], scores["same_category_chance"] = same_category_at_k(image_vectors, categories)
    return scores


def _labelled(products: pd.DataFrame, column: str) -> np.ndarray:
    if column not in products.columns:
        return np.zeros(len(products), dtype=bool)
    return (products[column].astype(str) != "").to_numpy()


def _labels(products: pd.DataFrame, column: str) -> list[str]:
    return sorted(label for label in products[column].astype(str).unique() if label)


def _top1(predicted: np.ndarray, products: pd.DataFrame, column: str) -> float:
    """Share of the labelled rows whose prediction is their label."""
    labelled = _labelled(products, column)
    return float((predicted[labelled] == products[column].astype(str).to_numpy()[labelled]).mean())
