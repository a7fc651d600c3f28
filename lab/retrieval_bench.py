"""`tailorcard bench retrieval`: exact vs approximate search, and vectorised vs naive preference build.

All data here is synthetic: clustered unit vectors stand in for products, random events for
shoppers; it measures speed and ANN recall, not recommendation quality.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd

from features.preferences import PreferenceConfig, PreferenceStore
from recsys.index import ItemIndex, choose_factory

K = 12


def clustered_vectors(n: int, dim: int, n_clusters: int, spread: float, rng: np.random.Generator) -> np.ndarray:
    centres = rng.standard_normal((n_clusters, dim)).astype(np.float32)
    vectors = centres[rng.integers(0, n_clusters, n)] + spread * rng.standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _timed_search(index: ItemIndex, queries: np.ndarray, single: int) -> dict:
    started = time.perf_counter()
    _, ids = index.search(queries, K)
    batch_seconds = time.perf_counter() - started
    latencies = []
    for query in queries[:single]:
        started = time.perf_counter()
        index.search(query[None, :], K)
        latencies.append(time.perf_counter() - started)
    return {"ids": ids, "qps": len(queries) / batch_seconds,
            "p50_ms": 1e3 * float(np.percentile(latencies, 50)), "p99_ms": 1e3 * float(np.percentile(latencies, 99))}


def bench_index(n_items: int = 1_000_000, dim: int = 128, n_queries: int = 1000, seed: int = 0,
                factory: str | None = None, log=print) -> dict:
    rng = np.random.default_rng(seed)
    vectors = clustered_vectors(n_items, dim, max(10, n_items // 1000), 0.35, rng)
    near = vectors[rng.integers(0, n_items, n_queries)]  # queries fall where the products are
    queries = near + 0.1 * rng.standard_normal(near.shape).astype(np.float32)
    ids = np.arange(n_items, dtype=np.int64)
    factory = factory or choose_factory(n_items)
    results = {}
    for name, spec in (("exact", "Flat"), ("ann", factory)):
        started = time.perf_counter()
        index = ItemIndex.for_items(ids, vectors, spec)
        build = time.perf_counter() - started
        results[name] = {"factory": spec, "build_s": build,
                         **_timed_search(index, queries[:200] if spec == "Flat" else queries, 50 if spec == "Flat" else 200)}
        log(f"  {name} ({spec}): built in {build:.1f} s")
        del index
    exact, ann = results["exact"]["ids"], results["ann"]["ids"][:len(results["exact"]["ids"])]
    recall = np.mean([len(np.intersect1d(a, e)) / K for a, e in zip(ann, exact)])
    for r in results.values():
        r.pop("ids")
    return {"items": n_items, "dim": dim, "recall_at_12": float(recall), **results,
            "speedup_qps": results["ann"]["qps"] / results["exact"]["qps"]}


def random_events(n_events: int, n_users: int, item_ids: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    return pd.DataFrame({
        "event_id": np.arange(n_events).astype(str),
        "user_id": rng.integers(0, n_users, n_events).astype(str),
        "item_id": rng.choice(item_ids, n_events),
        "type": rng.choice(["view", "click", "add_to_cart", "purchase", "dislike"], n_events, p=[.6, .2, .1, .07, .03]),
        "timestamp": 1.7e9 + np.sort(rng.random(n_events)) * 90 * 86_400,
        "query": "",
    })


def naive_preferences(events: pd.DataFrame, item_ids: np.ndarray, vectors: np.ndarray, config: PreferenceConfig) -> dict:
    """The straightforward way: one Python function per user over their events."""
    row_of = pd.Series(np.arange(len(item_ids)), index=item_ids)

    def one_user(group: pd.DataFrame) -> np.ndarray:
        weights = group["type"].map(config.event_weights).to_numpy() * config.decay(group["timestamp"].max() - group["timestamp"].to_numpy())
        total = (weights[:, None] * vectors[row_of[group["item_id"]].to_numpy()]).sum(axis=0)
        return total / max(np.linalg.norm(total), 1e-12)

    return events.groupby("user_id").apply(one_user, include_groups=False).to_dict()


def bench_preferences(n_events: int = 1_000_000, n_users: int = 10_000, n_items: int = 100_000, dim: int = 128,
                      seed: int = 0, log=print) -> dict:
    rng = np.random.default_rng(seed)
    vectors = clustered_vectors(n_items, dim, 100, 0.35, rng)
    item_ids = np.arange(n_items, dtype=np.int64) * 7 + 1
    events = random_events(n_events, n_users, item_ids, rng)
    store = PreferenceStore(item_ids, vectors)
    started = time.perf_counter()
    store.rebuild(events)
    vectorised = time.perf_counter() - started
    log(f"  vectorised build: {vectorised:.2f} s")
    started = time.perf_counter()
    naive = naive_preferences(events, item_ids, vectors, store.config)
    naive_seconds = time.perf_counter() - started
    sample = list(naive)[:1000]
    agree = float(np.max(np.abs(np.stack([naive[u] for u in sample]) - store.vectors(sample))))
    return {"events": n_events, "users": n_users, "items": n_items, "vectorised_s": vectorised,
            "pandas_groupby_apply_s": naive_seconds, "speedup": naive_seconds / vectorised, "max_abs_difference": agree}


def format_report(index: dict, preferences: dict) -> list[str]:
    e, a = index["exact"], index["ann"]
    return [
        f"retrieval, SYNTHETIC clustered {index['dim']}-d vectors, {index['items']:,} items, top-{K}:",
        f"  exact {e['factory']:<14} {e['qps']:>10.0f} q/s   p50 {e['p50_ms']:.2f} ms   p99 {e['p99_ms']:.2f} ms",
        f"  ann   {a['factory']:<14} {a['qps']:>10.0f} q/s   p50 {a['p50_ms']:.2f} ms   p99 {a['p99_ms']:.2f} ms"
        f"   (build {a['build_s']:.1f} s)",
        f"  ann recall@{K} vs exact: {index['recall_at_12']:.4f}   speed-up {index['speedup_qps']:.1f}x",
        f"preference vectors, SYNTHETIC {preferences['events']:,} events / {preferences['users']:,} users:",
        f"  vectorised {preferences['vectorised_s']:.2f} s   pandas groupby-apply {preferences['pandas_groupby_apply_s']:.2f} s"
        f"   ({preferences['speedup']:.0f}x; max |difference| {preferences['max_abs_difference']:.1e})",
    ]
