"""`tailorcard bench new-items`: do products added after the fit reach the shoppers they suit?

On SIMULATED behaviour over a catalogue (as `bench recsys`), `new_products` random products are
held out as "added after T": their events before T are dropped (they did not exist yet), the
recommender is fit on the rest, then they are upserted at T as if PUT through the API, and every
shopper is ranked at that moment (age 0: the boost at its strongest). With the new-arrival rule
(recsys.freshness) and without it (fresh_weight 0, fresh_neighbours 0), it reports

  matching shoppers  shoppers with events before T who have a new product among the MATCH_NEAREST
                     products nearest their taste vector (cosine, whole catalogue): the share who see
                     one of those in their top k. The others: the share who see any new product.
  hidden taste       of the new products shown, the share the shopper's hidden simulated taste wants
                     (its gender and one of their article types at T; `cell`: and one of their
                     colours), against the chance that a random new product is wanted: whether the
                     rule shows them to the right shoppers, judged by what the model never sees.
  MAP@k              on the purchases after T (the normal test of `bench recsys`; some are of new
                     products), and on those minus the new products (`established`: what showing new
                     products costs the rest).
"""
from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pandas as pd

from features.catalogue import Catalogue
from features.simulator import SimulatorConfig, simulate
from recsys.evaluation import average_precision, time_split
from recsys.recommender import Recommender, RecommenderConfig

RULE_OFF = {"fresh_weight": 0.0, "fresh_neighbours": 0}
MATCH_NEAREST = 100  # a new product among a shopper's 100 nearest products fits their taste
TASTE, CELL = ("gender", "articleType"), ("gender", "articleType", "baseColour")
BATCH = 512


def run_new_items_bench(catalogue: Catalogue, item_ids, item_vectors, n_users: int = 3000, seed: int = 0,
                        n_new: int = 100, k: int = 12, config: RecommenderConfig | None = None, log=print) -> dict:
    """Simulate, hold out n_new products until T, rank every shopper with and without the rule."""
    item_ids, item_vectors = np.asarray(item_ids, dtype=np.int64), np.asarray(item_vectors, dtype=np.float32)
    simulation = simulate(catalogue, SimulatorConfig(n_users=n_users, seed=seed, query_rate=0.0))
    split = time_split(simulation.events)
    new = np.sort(np.random.default_rng(seed).choice(item_ids, n_new, replace=False))
    before = split.train[~split.train["item_id"].isin(new)].reset_index(drop=True)
    shoppers = list(before["user_id"].astype(str).unique())
    hidden = {name: wanted_new_products(simulation.tastes, catalogue.products.loc[new], split.split_time, attributes)
              for name, attributes in (("taste", TASTE), ("cell", CELL))}
    config = config or RecommenderConfig()
    results, nearest = {}, None
    for label, arm in (("without", replace(config, **RULE_OFF)), ("with", config)):
        started = time.perf_counter()
        model = fit_then_add(item_ids, item_vectors, new, before, split.split_time, arm)
        if nearest is None:  # tastes and vectors are the same in both arms
            nearest = nearest_new_products(model, shoppers, new, MATCH_NEAREST)
        top = top_items(model, list(dict.fromkeys([*shoppers, *split.truth])), k)
        results[label] = {**_exposure(top, shoppers, nearest, new), **_hidden_shares(top, shoppers, hidden, new),
                          **_maps(top, split.truth, new, k)}
        log(f"  {label} the rule: {time.perf_counter() - started:.1f} s")
    log(f"simulated: {len(simulation.events):,} events of {n_users:,} users (seed {seed}); {n_new} products held "
        f"out until T; {len(shoppers):,} shoppers with events before T; {len(split.truth):,} buy after T")
    return {"simulated": True, "users": n_users, "seed": seed, "k": k, "new_products": n_new,
            "shoppers": len(shoppers), "matching_shoppers": sum(bool(v) for v in nearest.values()),
            "test_users": len(split.truth),
            "hidden_chance": {name: _chance(wants, shoppers, n_new) for name, wants in hidden.items()},
            "config": {name: getattr(config, name) for name in ("fresh_weight", "fresh_reach", "fresh_half_life_days",
                                                                "fresh_evidence", "fresh_neighbours")},
            "results": results}


def wanted_new_products(tastes: pd.DataFrame, new_products: pd.DataFrame, at: float, attributes) -> dict[str, set]:
    """user -> the new products their hidden taste at time `at` wants on `attributes` (of gender, one of
    their article types, one of their colours)."""
    drifted = tastes["drift_at"].to_numpy() <= at
    types = np.where(drifted, tastes["article_types_after_drift"], tastes["article_types"])
    cells = pd.DataFrame({"user_id": tastes["user_id"].astype(str), "gender": tastes["gender"],
                          "articleType": pd.Series(types).str.split("|").to_numpy(),
                          "baseColour": tastes["colours"].str.split("|").to_numpy()})
    cells = cells.explode("articleType").explode("baseColour")[["user_id", *attributes]].drop_duplicates()
    products = new_products[list(attributes)].rename_axis("product_id").reset_index()
    pairs = cells.merge(products, on=list(attributes))
    return {u: set(g.tolist()) for u, g in pairs.groupby("user_id")["product_id"]}


def fit_then_add(item_ids, item_vectors, new, events: pd.DataFrame, at: float,
                 config: RecommenderConfig) -> Recommender:
    """A recommender fit without the `new` products, which then arrive at `at` (its clock stops there)."""
    old = ~np.isin(item_ids, new)
    model = Recommender.from_vectors(item_ids[old], item_vectors[old], config=config)
    model.freshness.clock = lambda: at
    model.fit(events)
    for item_id, vector in zip(item_ids[~old], item_vectors[~old]):
        model.upsert_item(int(item_id), vector, added_at=at)
    return model


def nearest_new_products(model: Recommender, shoppers: list[str], new: np.ndarray, k: int) -> dict[str, set]:
    """shopper -> the new products among the k products nearest their taste vector."""
    tastes = model.preferences.vectors(shoppers, fallback=model.cold_start_vector)
    _, near = model.index.search(tastes, k)
    return {u: set(row[np.isin(row, new)].tolist()) for u, row in zip(shoppers, near)}


def top_items(model: Recommender, user_ids: list[str], k: int) -> dict[str, np.ndarray]:
    """Each user's top k (already-bought products hidden, as in `bench recsys`)."""
    out = {}
    for start in range(0, len(user_ids), BATCH):
        for result in model.recommend_many(user_ids[start:start + BATCH], n=k, filter_already_bought=True):
            out[result.user_id] = result.item_ids
    return out


def _exposure(top: dict, shoppers, nearest: dict, new: np.ndarray) -> dict:
    """Matching shoppers who see one of theirs, the others who see any, and the new products' slots."""
    matching = np.array([bool(nearest[u]) for u in shoppers])
    sees_theirs = np.array([bool(nearest[u] & set(top[u].tolist())) for u in shoppers])
    sees_any = np.array([np.isin(top[u], new).any() for u in shoppers])
    slots = np.concatenate([top[u] for u in shoppers])
    return {"matching_see_theirs": _mean(sees_theirs[matching]), "others_see_any": _mean(sees_any[~matching]),
            "new_share_of_slots": _mean(np.isin(slots, new)),
            "new_products_shown": len(np.unique(slots[np.isin(slots, new)]))}


def _hidden_shares(top: dict, shoppers, hidden: dict, new: np.ndarray) -> dict:
    """Of the new products shown, the share each hidden-taste reading says the shopper wants."""
    shown = [(u, p) for u in shoppers for p in top[u][np.isin(top[u], new)].tolist()]
    return {f"shown_wanted_by_{name}": _mean(np.array([p in wants.get(u, ()) for u, p in shown]))
            for name, wants in hidden.items()}


def _chance(wants: dict, shoppers, n_new: int) -> float:
    """The share of (shopper, new product) pairs the hidden taste wants: what showing at random would hit."""
    return float(np.mean([len(wants.get(u, ())) for u in shoppers]) / n_new)


def _maps(top: dict, truth: dict, new: np.ndarray, k: int) -> dict:
    """MAP@k on every purchase after T, and on the purchases of established products only."""
    every = [average_precision(top[u], bought, k) for u, bought in truth.items()]
    established = [average_precision(top[u], bought[~np.isin(bought, new)], k) for u, bought in truth.items()
                   if (~np.isin(bought, new)).any()]
    return {"map": float(np.mean(every)), "map_established": float(np.mean(established))}


def _mean(flags: np.ndarray) -> float:
    return float(np.mean(flags)) if len(flags) else float("nan")


# ---- output ---------------------------------------------------------------------------------

def summary(report: dict) -> dict:
    """The --json line: exposure shares and MAP@k with and without the rule, and the relative MAP loss."""
    without, with_ = report["results"]["without"], report["results"]["with"]
    rounded = {label: {key: _round(value) for key, value in block.items()} for label, block in report["results"].items()}
    loss = {key: _round(1 - with_[key] / without[key]) if without[key] > 0 else None
            for key in ("map", "map_established")}
    return {"simulated": True, **{key: report[key] for key in ("users", "seed", "k", "new_products", "shoppers",
                                                                 "matching_shoppers", "test_users", "config")},
            "hidden_chance": {name: _round(share) for name, share in report["hidden_chance"].items()},
            **rounded, "map_relative_loss": loss}


def _round(value):
    """5 decimals; NaN (nothing to measure, e.g. no new product shown) as null."""
    if isinstance(value, float):
        return None if np.isnan(value) else round(value, 5)
    return value


def format_table(report: dict) -> list[str]:
    k, results, chance = report["k"], report["results"], report["hidden_chance"]
    lines = [f"SIMULATED behaviour ({report['users']:,} users, seed {report['seed']}): {report['new_products']} "
             f"products added at T and ranked at once; {report['matching_shoppers']:,} of {report['shoppers']:,} "
             f"shoppers have one among their {MATCH_NEAREST} nearest; MAP on {report['test_users']:,} test users; @{k}",
             f"shown new products the hidden taste wants: by chance {chance['taste']:.4f} (gender, type), "
             f"{chance['cell']:.4f} (and colour)",
             f"{'rule':<9}{'matching see':>13}{'others see':>12}{'new slots':>11}{'shown':>7}{'wanted':>8}"
             f"{'w/colour':>10}{'map':>9}{'map est.':>10}"]
    for label, r in results.items():
        lines.append(f"{label:<9}{r['matching_see_theirs']:>13.4f}{r['others_see_any']:>12.4f}"
                     f"{r['new_share_of_slots']:>11.4f}{r['new_products_shown']:>7}{r['shown_wanted_by_taste']:>8.4f}"
                     f"{r['shown_wanted_by_cell']:>10.4f}{r['map']:>9.4f}{r['map_established']:>10.4f}".replace("nan", "n/a"))
    return lines
