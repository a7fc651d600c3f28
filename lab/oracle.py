"""Ceilings for the recsys bench: ranking by the simulator's own purchase probabilities, given its hidden
tastes (OracleRecommender) or only what each user's events say about them (PosteriorOracleRecommender)."""
from __future__ import annotations

import numpy as np

from features.simulator_posterior import PRIOR_SEED, EventsPosterior
from features.simulator_truth import PurchaseTruth
from lab.baselines import InteractionModel


class OracleRecommender(InteractionModel):
    """Ranks products by the probability that the user's purchases in [start, end] are them.

    Reads the simulator's hidden tastes and popularity (features.simulator_truth): a ceiling for
    comparison, never a model to serve. Fitting on events only learns what each user already bought
    (for filter_already_bought). Users the simulation never drew get its popularity ranking.
    """

    name = "oracle"

    def __init__(self, truth: PurchaseTruth, start: float, end: float):
        super().__init__(truth.item_ids)
        self.truth, self.window = truth, (start, end)

    def _user_scores(self, user_ids: list[str], rows: np.ndarray) -> np.ndarray:
        drawn = np.flatnonzero(self.truth.knows(user_ids))
        scores = np.tile(self.truth.popularity / self.truth.popularity.sum(), (len(user_ids), 1))
        for at, probabilities in self.truth.batches([user_ids[i] for i in drawn], *self.window):
            scores[drawn[at]] = probabilities
        return scores


class PosteriorOracleRecommender(InteractionModel):
    """Ranks products by P(purchase in [start, end] | the user's training events), the Bayes posterior
    over the simulator's tastes (features.simulator_posterior): the best ranking any model seeing only
    these events can reach if it knew the simulator exactly. It also knows the true popularity, so it is
    an upper bound for models that learn from events, not a model to serve. Users without events get
    the prior's answer, the best there is for them.
    """

    name = "events_ceiling"

    def __init__(self, truth: PurchaseTruth, start: float, end: float, samples: int = 20_000,
                 seed: int = PRIOR_SEED):
        super().__init__(truth.item_ids)
        self.posterior, self.window = EventsPosterior(truth, samples, seed), (start, end)

    def fit(self, events) -> "PosteriorOracleRecommender":
        super().fit(events)
        self.events = events.assign(user_id=events["user_id"].astype(str))  # searches too: they name the mission
        return self

    def _user_scores(self, user_ids: list[str], rows: np.ndarray) -> np.ndarray:
        scores = np.empty((len(user_ids), len(self.item_ids)))
        for at, probabilities in self.posterior.batches(self.events, user_ids, *self.window):
            scores[at] = probabilities
        return scores
