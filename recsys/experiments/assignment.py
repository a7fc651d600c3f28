"""Deterministic, sticky assignment of users to arms.

Two hashes, as in Tang et al., "Overlapping Experiment Infrastructure" (KDD 2010):
- hash(layer, user) picks one of LAYER_BUCKETS; each experiment in a layer owns a disjoint
  range of them, so experiments in one layer never share a user, and experiments in
  different layers are independent of each other;
- hash(experiment salt, user) picks one of ARM_BUCKETS; `BucketMap` says which arm owns it.

A weight change moves the fewest buckets it can, and users already assigned keep their
arm through a persisted assignment (`AssignmentStore`): a change only affects newcomers.
"""
from __future__ import annotations

import hashlib
from typing import Protocol

import numpy as np

from recsys.experiments.model import Experiment, ExperimentError

LAYER_BUCKETS = 1000
ARM_BUCKETS = 10_000


def bucket_of(salt: str, user_id: str, n_buckets: int) -> int:
    """Uniform, stable across processes and machines (unlike Python's salted hash())."""
    digest = hashlib.sha256(f"{salt}\x1f{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % n_buckets


def bucket_counts(weights, n_buckets: int = ARM_BUCKETS) -> np.ndarray:
    """Buckets per arm proportional to the weights; largest remainders get the leftovers."""
    weights = np.asarray(weights, dtype=float)
    exact = weights / weights.sum() * n_buckets
    counts = np.floor(exact).astype(int)
    leftovers = np.argsort(-(exact - counts), kind="stable")[: n_buckets - counts.sum()]
    counts[leftovers] += 1
    return counts


def initial_bucket_arms(weights, n_buckets: int = ARM_BUCKETS) -> tuple[int, ...]:
    return tuple(np.repeat(np.arange(len(weights)), bucket_counts(weights, n_buckets)).tolist())


def rebalanced_bucket_arms(bucket_arms, weights) -> tuple[int, ...]:
    """Hand buckets from arms over their new share to arms under it; no other bucket moves."""
    arms = np.array(bucket_arms, dtype=int)  # a copy: the caller's map stays as it was
    surplus = np.bincount(arms, minlength=len(weights)) - bucket_counts(weights, len(arms))
    released = [bucket for arm, extra in enumerate(surplus) if extra > 0
                for bucket in np.flatnonzero(arms == arm)[-extra:]]  # each arm gives up its last buckets
    arms[np.sort(np.array(released, dtype=int))] = np.repeat(np.flatnonzero(surplus < 0), -surplus[surplus < 0])
    return tuple(arms.tolist())


def claim_layer_range(taken: list[tuple[int, int]], traffic: float, layer: str) -> tuple[int, int]:
    """The first free run of layer buckets big enough for `traffic` of the layer's users."""
    size = max(1, round(traffic * LAYER_BUCKETS))
    start = 0
    for begin, end in sorted(taken):
        if begin - start >= size:
            break
        start = max(start, end)
    if start + size > LAYER_BUCKETS:
        free = LAYER_BUCKETS - sum(end - begin for begin, end in taken)
        raise ExperimentError(f"layer {layer!r} has no free run of {size / LAYER_BUCKETS:.1%} of its traffic "
                              f"({free / LAYER_BUCKETS:.1%} free in all); stop an experiment in it, or ask for a "
                              "smaller share (population.traffic); another layer suits another slot only")
    return start, start + size


def applies_to(experiment: Experiment, user_id: str, segment: int | None = None) -> bool:
    """Whether the running experiment takes this user: their segment is admitted and the layer hash falls in its
    range (so experiments in one layer never share a user, whatever their allocation)."""
    if experiment.status != "running" or not experiment.population.admits(segment):
        return False
    begin, end = experiment.layer_range
    return begin <= bucket_of(f"layer:{experiment.layer_name}", user_id, LAYER_BUCKETS) < end


def hashed_arm(experiment: Experiment, user_id: str, segment: int | None = None) -> str | None:
    """The arm the hashes give this user now, or None when the experiment does not apply to them."""
    if not applies_to(experiment, user_id, segment):
        return None
    bucket = bucket_of(experiment.hash_salt, user_id, len(experiment.bucket_arms))
    return experiment.arm_names[experiment.bucket_arms[bucket]]


class AssignmentStore(Protocol):
    """Where assignments persist; the service keeps them in its database."""

    def get(self, experiment: str, user_id: str) -> str | None: ...

    def add(self, experiment: str, user_id: str, arm: str, at: float) -> None: ...


class InMemoryAssignments:
    def __init__(self):
        self._arms: dict[tuple[str, str], tuple[str, float]] = {}

    def get(self, experiment: str, user_id: str) -> str | None:
        found = self._arms.get((experiment, user_id))
        return found[0] if found else None

    def add(self, experiment: str, user_id: str, arm: str, at: float) -> None:
        self._arms.setdefault((experiment, user_id), (arm, at))


def sticky_arm(experiment: Experiment, user_id: str, store: AssignmentStore, now: float,
               segment: int | None = None) -> str | None:
    """A user's first arm is theirs for the life of the experiment, whatever the weights become."""
    if experiment.status != "running":
        return None
    known = store.get(experiment.name, user_id)
    if known is not None:
        return known
    arm = hashed_arm(experiment, user_id, segment)
    if arm is not None:
        store.add(experiment.name, user_id, arm, now)
    return arm


def start_experiment(experiment: Experiment, others: list[Experiment], now: float) -> Experiment:
    """Claim a free part of the layer (apart from the running experiments in it) and the arm buckets. A running
    experiment on the same slot in another layer is refused: a shopper's cards show one arm, so the first
    experiment would take every shopper the two share and the other would run without traffic."""
    experiment.check_inputs()
    rival = next((other for other in others if other.status == "running" and other.slot == experiment.slot
                  and other.layer_name != experiment.layer_name and other.name != experiment.name), None)
    if rival is not None:
        raise ExperimentError(f"slot {experiment.slot!r} is already tested by the running experiment {rival.name!r} "
                              f"(layer {rival.layer_name!r}); a shopper's cards show one arm, so a second experiment "
                              f"there would get no traffic: stop it, or run this one in its layer with a share of "
                              f"the traffic (population.traffic)")
    taken = [other.layer_range for other in others
             if other.status == "running" and other.layer_name == experiment.layer_name and other.name != experiment.name]
    layer_range = claim_layer_range(taken, experiment.population.traffic, experiment.layer_name)
    return experiment.started(now, layer_range, initial_bucket_arms(experiment.weights))


def change_weights(experiment: Experiment, weights, now: float) -> Experiment:
    """New weights for newcomers; with a sticky store, nobody already assigned moves."""
    moved = rebalanced_bucket_arms(experiment.bucket_arms, tuple(weights)) if experiment.bucket_arms else None
    return experiment.reweighted(weights, now, moved)
