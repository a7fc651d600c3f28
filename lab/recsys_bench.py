"""`tailorcard bench recsys`: tailorcard vs three baselines on *simulated* behaviour over a catalogue,
and two ceilings that know the simulator: the events ceiling (its Bayes posterior given each user's
events, the best any model learning from events can do) and the oracle (each user's hidden taste)."""
from __future__ import annotations

import time

import numpy as np

from features.catalogue import Catalogue
from features.errors import EmbeddingSpaceMismatch
from features.simulator import SimulatorConfig, simulate
from features.simulator_truth import PurchaseTruth
from lab.baselines import BASELINES
from lab.oracle import OracleRecommender, PosteriorOracleRecommender
from recsys.evaluation import HISTORY_BUCKETS, TimeSplit, time_split, evaluate, summarise
from recsys.recommender import Recommender

MODEL_ORDER = ("tailorcard", "popularity", "itemknn", "als")
CEILING_LABEL = "ceiling: reads the simulator's ground truth (not a model)"
EVENTS_CEILING_BUCKETS = ("cold", "<=2")  # a Monte Carlo posterior over the prior cannot weigh long histories
EVENTS_CEILING_SAMPLES = 200_000  # prior tastes; MAP@12 of <=2 moves ~0.002 between draws of this size
EVENTS_CEILING_LABEL = ("events ceiling: Bayes posterior over the simulator's tastes given the user's training "
                        "events; knows the simulator and its popularity (not a model); n/a: computed only for "
                        f"{' and '.join(EVENTS_CEILING_BUCKETS)}, as Monte Carlo over the prior cannot weigh "
                        "longer histories")


def run_recsys_bench(catalogue: Catalogue, item_ids, item_vectors, encode_texts=None, n_users: int = 20_000,
                     seed: int = 0, k: int = 12, log=print, prior_samples: int = EVENTS_CEILING_SAMPLES) -> dict:
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
    truth = PurchaseTruth.from_simulation(simulation, catalogue.products)
    return {"simulated": True, "users": n_users, "seed": seed, "k": k, "test_users": len(split.truth),
            "models": results, "events_ceiling": _events_ceiling(truth, split, k, prior_samples, log),
            "ceiling": _ceiling(truth, split, k, log)}


def _ceiling(truth: PurchaseTruth, split: TimeSplit, k: int, log) -> dict:
    """The oracle's scores: what ranking by the simulator's own purchase probabilities reaches."""
    started = time.perf_counter()
    oracle = OracleRecommender(truth, split.split_time, truth.period[1]).fit(split.train)
    result = summarise(evaluate(oracle, split, k), len(truth.item_ids))
    log(f"  oracle (ceiling): {time.perf_counter() - started:.1f} s")
    return result


def _events_ceiling(truth: PurchaseTruth, split: TimeSplit, k: int, samples: int, log) -> dict:
    """The events ceiling's scores in EVENTS_CEILING_BUCKETS; None for the other buckets and overall."""
    started = time.perf_counter()
    most = max(HISTORY_BUCKETS[b][1] for b in EVENTS_CEILING_BUCKETS)
    few = TimeSplit(split.train, {u: bought for (u, bought), events in zip(
        split.truth.items(), split.history_length(split.truth)) if events <= most}, split.split_time)
    if not few.truth:
        return {"overall": None, "by_history": dict.fromkeys(HISTORY_BUCKETS)}
    model = PosteriorOracleRecommender(truth, split.split_time, truth.period[1], samples).fit(split.train)
    result = summarise(evaluate(model, few, k), len(truth.item_ids))
    log(f"  events ceiling ({samples:,} prior tastes; {len(few.truth):,} users with <= {most} events): "
        f"{time.perf_counter() - started:.1f} s")
    return {"overall": None, "by_history": {b: result["by_history"][b] if b in EVENTS_CEILING_BUCKETS else None
                                            for b in HISTORY_BUCKETS}}


def map_summary(report: dict) -> dict:
    """The --json line: MAP@k per model, overall and per history bucket."""
    models, ceiling, events_ceiling = report["models"], report["ceiling"], report["events_ceiling"]
    buckets = next(iter(models.values()))["by_history"]
    return {"simulated": True, "users": report["users"], "k": report["k"],
            "map_at_12": {m: round(r["overall"]["map"], 5) for m, r in models.items()},
            "by_history": {b: {m: round(r["by_history"][b]["map"], 5) for m, r in models.items()} for b in buckets},
            "bucket_users": {b: buckets[b]["users"] for b in buckets},
            "events_ceiling_map_at_12": {"overall": _map(events_ceiling["overall"]),
                                         "by_history": {b: _map(events_ceiling["by_history"][b]) for b in buckets}},
            "ceiling_map_at_12": {"overall": round(ceiling["overall"]["map"], 5),
                                  "by_history": {b: round(ceiling["by_history"][b]["map"], 5) for b in buckets}}}


def _map(block: dict | None) -> float | None:
    return None if block is None else round(block["map"], 5)


def format_table(report: dict) -> list[str]:
    k = report["k"]
    lines = [f"SIMULATED behaviour ({report['users']:,} users, seed {report['seed']}, "
             f"{report['test_users']:,} test users); metrics @{k}",
             f"{'model':<12}{'bucket':<9}{'users':>7}{'recall':>9}{'ndcg':>9}{'map':>9}{'coverage':>10}"]
    for name, result in report["models"].items():
        lines += _rows(name, result)
    users = next(iter(report["models"].values()))  # the user counts of buckets a ceiling leaves out
    return lines + [EVENTS_CEILING_LABEL] + _rows("events_ceil", report["events_ceiling"], users) + \
        [CEILING_LABEL] + _rows("oracle", report["ceiling"])


def _rows(name: str, result: dict, users: dict | None = None) -> list[str]:
    """One line per bucket; n/a for the buckets the result leaves out (None), with `users`' counts."""
    blocks, counted = ({"overall": r["overall"], **r["by_history"]} for r in (result, users or result))
    return [f"{name:<12}{bucket:<9}{counted[bucket]['users']:>7}" + (
        f"{block['recall']:>9.4f}{block['ndcg']:>9.4f}{block['map']:>9.4f}{block['coverage']:>10.4f}" if block
        else f"{'n/a':>9}{'n/a':>9}{'n/a':>9}{'n/a':>10}") for bucket, block in blocks.items()]


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
