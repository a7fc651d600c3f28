"""`tailorcard bench recsys`: tailorcard vs three baselines on *simulated* behaviour over a catalogue."""
from __future__ import annotations

import time

import numpy as np

from features.catalogue import Catalogue
from features.errors import EmbeddingSpaceMismatch
from features.simulator import SimulatorConfig, simulate
from recsys.baselines import BASELINES
from recsys.evaluation import time_split, evaluate, summarise
from recsys.recommender import Recommender

MODEL_ORDER = ("tailorcard", "popularity", "itemknn", "als")


def run_recsys_bench(catalogue: Catalogue, item_ids, item_vectors, encode_texts=None, n_users: int = 20_000,
                     seed: int = 0, k: int = 12, log=print) -> dict:
    """Simulate, split in time, fit each model on the past, score its top-k against later purchases."""
    simulation = simulate(catalogue, SimulatorConfig(n_users=n_users, seed=seed,
                                                     query_rate=0.2 if encode_texts else 0.0))
    split = time_split(simulation.events)
    log(f"simulated: {len(simulation.events):,} events of {n_users:,} users (seed {seed}); "
        f"{len(split.train):,} before T, {len(split.truth):,} users purchase after T"
        + ("" if encode_texts else "; search queries off (no text encoder)"))
    models = {"tailorcard": Recommender.from_vectors(item_ids, item_vectors, encode_texts=encode_texts)}
    models.update({name: cls(item_ids) for name, cls in BASELINES.items()})
    results = {}
    for name in MODEL_ORDER:
        started = time.perf_counter()
        models[name].fit(split.train)
        results[name] = summarise(evaluate(models[name], split, k), len(item_ids))
        log(f"  {name}: {time.perf_counter() - started:.1f} s")
    return {"simulated": True, "users": n_users, "seed": seed, "k": k, "test_users": len(split.truth),
            "models": results}


def map_summary(report: dict) -> dict:
    """The --json line: MAP@k per model, overall and per history bucket."""
    models = report["models"]
    buckets = next(iter(models.values()))["by_history"]
    return {"simulated": True, "users": report["users"], "k": report["k"],
            "map_at_12": {m: round(r["overall"]["map"], 5) for m, r in models.items()},
            "by_history": {b: {m: round(r["by_history"][b]["map"], 5) for m, r in models.items()} for b in buckets},
            "bucket_users": {b: buckets[b]["users"] for b in buckets}}


def format_table(report: dict) -> list[str]:
    k = report["k"]
    lines = [f"SIMULATED behaviour ({report['users']:,} users, seed {report['seed']}, "
             f"{report['test_users']:,} test users); metrics @{k}",
             f"{'model':<12}{'bucket':<9}{'users':>7}{'recall':>9}{'ndcg':>9}{'map':>9}{'coverage':>10}"]
    for name, result in report["models"].items():
        for bucket, block in {"overall": result["overall"], **result["by_history"]}.items():
            lines.append(f"{name:<12}{bucket:<9}{block['users']:>7}{block['recall']:>9.4f}{block['ndcg']:>9.4f}"
                         f"{block['map']:>9.4f}{block['coverage']:>10.4f}")
    return lines


def load_vectors_file(path, item_ids) -> np.ndarray:
    """Product vectors from an .npz with `ids` and `vectors` (an embedding store file qualifies), in item_ids order."""
    with np.load(path, allow_pickle=False) as saved:
        if "ids" not in saved or "vectors" not in saved:
            raise EmbeddingSpaceMismatch(f"{path}: expected arrays 'ids' and 'vectors'; found {list(saved.keys())}")
        ids, vectors = saved["ids"].astype(np.int64), saved["vectors"].astype(np.float32)
    position = {int(i): p for p, i in enumerate(ids)}
    missing = [int(i) for i in item_ids if int(i) not in position]
    if missing:
        raise EmbeddingSpaceMismatch(f"{path}: no vector for {len(missing)} catalogue product(s), e.g. {missing[:5]}")
    return vectors[[position[int(i)] for i in item_ids]]
