"""Why a product was recommended: the user's past products and queries that pulled it in.

A user's taste score for a product is a sum of pulls, one per past product or query
(recsys.taste); each source's share of the positive pull is its part in the recommendation.
A share is relative (a lone weak pull still has all of it), so each reason also says how alike
the source and the product are (`similarity`, the cosine in CLIP space): a page should say
"because you searched X" only when that is high, not because the share is.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.taste import pulls_of

MAX_REASONS = 3


def explain_items(history: pd.DataFrame, source_vectors: np.ndarray, item_vectors: np.ndarray,
                  temperature: float | None) -> list[list[dict]]:
    """Per item, up to MAX_REASONS {"item_id" or "query", "share"} for the biggest positive pulls.

    history: the user's sources (PreferenceStore.contributions); source_vectors: their vectors."""
    if len(history) == 0:
        return [[{"cold_start": "no history yet; popular products"}] for _ in range(len(item_vectors))]
    similarity = source_vectors @ item_vectors.T
    pull = pulls_of(history["weight"].to_numpy(), similarity, temperature)
    total = np.maximum(pull, 0).sum(axis=0)
    reasons = []
    for column in range(pull.shape[1]):
        strongest = [s for s in np.argsort(-pull[:, column])[:MAX_REASONS] if pull[s, column] > 0]
        reasons.append([_reason(history.iloc[s], pull[s, column] / total[column], similarity[s, column])
                        for s in strongest])
    return reasons


def _reason(source: pd.Series, share: float, similarity: float) -> dict:
    what = {"query": source["query"]} if source["item_id"] < 0 else {"item_id": int(source["item_id"])}
    return {**what, "share": round(float(share), 4), "similarity": round(float(similarity), 4)}
