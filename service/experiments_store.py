"""Experiments in the service: the cards endpoint's assignment and exposure log, and the analysts' actions.

`DatabaseExperiments` follows service.experiments.Experiments (assign, log_exposures, list) and adds
what the experiments blueprint needs. A shopper's assignment is stored in the transaction that logs the
cards served in it, so no assignment is left without its exposures. It finds the engine through current_app,
so one instance can be handed to create_app in config before the engine exists.
"""
from __future__ import annotations

import time

from flask import current_app, url_for

from features.ids import product_key
from recsys.experiments import (Experiment, ExperimentError, analyze, attribute, change_weights, start_experiment,
                                sticky_arm)
from service import experiments_db as store

PRE_PERIOD_S = 28 * 86_400.0  # CUPED's covariate: clicks in the four weeks before the start
CARDS_SLOT = "cards"
# Cards ask on every request which experiments run; a worker re-reads the list at most this often (its
# own changes at once), so another worker's start or stop reaches these cards within this many seconds.
RUNNING_REFRESH_S = 1.0


class ExperimentNotFound(ExperimentError):
    pass


class ExperimentExists(ExperimentError):
    pass


class DatabaseExperiments:
    def __init__(self):
        self._ready = False
        self._running = (float("-inf"), [])  # (when read, the running experiments): one tuple, swapped whole

    def _engine(self):
        engine = current_app.extensions["tailorcard.db"]
        if not self._ready:
            store.ensure_tables(engine)
            self._ready = True
        return engine

    # ---- what the cards endpoint calls --------------------------------------------------------

    def assign(self, user_id: str, segment: int | None = None) -> dict | None:
        """The first experiment arm on the cards slot for this shopper: the one stored for them, else the
        one the hashes give. Stores nothing; `log_exposures` stores it with the cards served in it."""
        running = self._running_on(CARDS_SLOT)
        if not running:  # the common case costs no database round trip
            return None
        with self._engine().connect() as connection:
            arms = self._sticky_arms(connection, running, {user_id: segment}, store_new=False)[user_id]
        return arms[0] if arms else None

    def _sticky_arms(self, connection, running: list[Experiment], users: dict[str, int | None], *,
                     store_new: bool) -> dict[str, list[dict]]:
        """user_id -> the arms they are in, one per experiment in `running` (one per layer at most).
        `users` maps each user to their taste segment (None when unknown) for segment-targeted experiments;
        `store_new` writes newcomers' arms on `connection` (a concurrent worker's first row is kept)."""
        now = time.time()
        found = {user: [] for user in users}
        for experiment in running:
            table = store.AssignmentTable(connection, experiment.name, list(users))
            for user, segment in users.items():
                arm = sticky_arm(experiment, user, table, now, segment)
                if arm is not None:
                    found[user].append(arm_description(experiment, arm))
            if store_new:
                table.flush()
        return found

    def _running_on(self, slot: str) -> list[Experiment]:
        return [e for e in self._running_experiments() if e.slot == slot]

    def _running_experiments(self) -> list[Experiment]:
        read_at, running = self._running
        if time.monotonic() - read_at > RUNNING_REFRESH_S:
            with self._engine().connect() as connection:
                running = store.list_experiments(connection, status="running")
            self._running = (time.monotonic(), running)
        return running

    def log_exposures(self, user_id: str, assigned: dict, cards: list[dict], slot: str = CARDS_SLOT) -> int:
        """Stores the assignment `assign` gave and one exposure per card served in it, in one transaction;
        `cards` as the cards endpoint returns them. An assignment already stored stays (the first wins)."""
        at = time.time()
        assignment = store.assignment_row(assigned["experiment"], user_id, assigned["arm"], at)
        rows = [{"experiment": assigned["experiment"], "arm": assigned["arm"], "user_id": user_id,
                 "item_id": product_key(card["product"]["id"]), "slot": slot, "position": card["rank"],
                 "image": "variant" if card.get("variant") else "original", "timestamp": at} for card in cards]
        with self._engine().begin() as connection:
            store.add_assignments(connection, [assignment])
            return store.add_exposures(connection, rows)

    def record_exposures(self, shown: list[dict], slot: str = CARDS_SLOT) -> dict[str, list[dict]]:
        """For cards a storefront rendered itself: assign each user and log what they saw, in one transaction;
        returns user_id -> their arms, one per running experiment on the slot.
        `shown` rows have user_id, item_id, position, image and timestamp (checked by the caller)."""
        running = self._running_on(slot)
        users = {row["user_id"]: row.get("segment") for row in shown}
        with self._engine().begin() as connection:
            assigned = self._sticky_arms(connection, running, users, store_new=True)
            rows = [{"experiment": a["experiment"], "arm": a["arm"], "user_id": row["user_id"],
                     "item_id": row["item_id"], "slot": slot, "position": row["position"], "image": row["image"],
                     "timestamp": row["timestamp"]}
                    for row in shown for a in assigned[row["user_id"]]]
            store.add_exposures(connection, rows)
        return assigned

    # ---- what analysts do ---------------------------------------------------------------------

    def list(self) -> list[dict]:
        with self._engine().connect() as connection:
            return [public(e) for e in store.list_experiments(connection)]

    def get(self, name: str) -> Experiment:
        with self._engine().connect() as connection:
            experiment = store.get_experiment(connection, name)
        if experiment is None:
            raise ExperimentNotFound(f"no experiment named {name!r}")
        return experiment

    def create(self, definition: dict) -> Experiment:
        experiment = Experiment.from_dict(definition)
        experiment.check_inputs()
        if experiment.status != "draft" or experiment.layer_range or experiment.bucket_arms:
            raise ExperimentError("a new experiment is a draft: leave out status, layer_range and bucket_arms")
        with self._engine().begin() as connection:
            if not store.insert_experiment(connection, experiment):
                raise ExperimentExists(f"an experiment named {experiment.name!r} exists; choose another name")
        return experiment

    def start(self, name: str) -> Experiment:
        with self._engine().begin() as connection:
            running = store.list_experiments(connection, status="running")
            return self._change(connection, name, lambda e: start_experiment(e, running, time.time()))

    def stop(self, name: str) -> Experiment:
        with self._engine().begin() as connection:
            return self._change(connection, name, lambda e: e.stopped(time.time()))

    def reweight(self, name: str, weights: dict[str, float]) -> Experiment:
        with self._engine().begin() as connection:
            return self._change(connection, name, lambda e: change_weights(e, ordered_weights(e, weights), time.time()))

    def _change(self, connection, name: str, change) -> Experiment:
        experiment = store.get_experiment(connection, name)
        if experiment is None:
            raise ExperimentNotFound(f"no experiment named {name!r}")
        changed = change(experiment)
        store.save_experiment(connection, changed)
        self._running = (float("-inf"), [])  # this worker's next cards see the change
        return changed

    def results(self, name: str, detailed: bool = True) -> dict:
        experiment = self.get(name)
        if experiment.started_at is None:
            raise ExperimentError(f"experiment {name!r} has not started; there are no results yet")
        with self._engine().connect() as connection:
            shown = store.exposure_frame(connection, name)
            outcomes = store.outcome_events(connection, name, experiment.started_at)
            pre_period = store.pre_period_clicks(connection, name, experiment.started_at, PRE_PERIOD_S)
        attribution = attribute(shown, outcomes, experiment.attribution_window_s)
        results = analyze(experiment, attribution, pre_period, detailed=detailed).to_dict()
        return {"experiment": public(experiment), **results}


def ordered_weights(experiment: Experiment, weights: dict[str, float]) -> tuple[float, ...]:
    if not isinstance(weights, dict) or set(weights) != set(experiment.arm_names):
        given = sorted(weights) if isinstance(weights, dict) else type(weights).__name__
        raise ExperimentError(f"weights must name every arm once: {list(experiment.arm_names)}; got {given}")
    return tuple(weights[name] for name in experiment.arm_names)


def arm_description(experiment: Experiment, arm_name: str) -> dict:
    arm = experiment.arms[experiment.arm_names.index(arm_name)]
    return {"experiment": experiment.name, "arm": arm.name, "image_policy": arm.image_policy,
            "generator_params": arm.generator_params}


def public(experiment: Experiment) -> dict:
    """An experiment as analysts see it: the definition without the bucket map."""
    shown = experiment.to_dict()
    shown.pop("bucket_arms")
    return shown


def arm_cards(cards: list[dict], assigned: dict | None) -> list[dict]:
    """Each card marked with the arm; an arm with image policy "original" shows the original photo, one with
    "variant" the segment variant the card came with."""
    if not assigned:
        return cards
    marked = []
    for card in cards:
        card = {**card, "experiment": {"name": assigned["experiment"], "arm": assigned["arm"]}}
        if assigned["image_policy"] == "original" and card.get("variant"):
            card.update(image_url=url_for("items.image", item_id=card["product"]["id"]), variant=None)
        marked.append(card)
    return marked
