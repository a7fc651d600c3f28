"""Experiments in the service: the cards endpoint's assignment and exposure log, and the analysts' actions.

`DatabaseExperiments` follows service.experiments.Experiments (assign, log_exposures, list) and adds
what the experiments blueprint needs. A shopper's assignment is stored in the transaction that logs the
cards served in it, so no assignment is left without its exposures. It finds the engine through the
app's dependencies (service.deps), so one instance can be handed to create_app in config before the
engine exists; its timestamps and refresh intervals come from the app's clock (service.clock).

Allocation. A fixed experiment assigns each shopper one arm for good (sticky, by the weights). A bandit
experiment decides per cards request: the segment's counts (exposures and attributed clicks per arm, read
from the exposures and events a little at a time, brought up to date per process every BANDIT_COUNTS_REFRESH_S)
give Thompson-sampling probabilities (recsys.experiments.bandit), the hashed draw of (experiment, shopper, time
window) picks the arm, and the decision (arm, its probability, every arm's) is stored in the transaction that
logs its exposures.
Cards a storefront rendered itself (`record_exposures`) are not bandit decisions: bandit experiments skip them.
"""
from __future__ import annotations

import re

from features.ids import product_key
from imagegen.errors import PresentationError
from imagegen.presentation import SCENE, PresentationPolicy
from recsys.experiments import (Experiment, ExperimentError, analyze, attribute, change_weights, start_experiment,
                                sticky_arm)
from recsys.experiments.analysis import json_ready
from recsys.experiments.assignment import applies_to
from recsys.experiments.bandit import assignment_probabilities, choose, decision_draw, winner
from recsys.experiments.model import LEGACY_PRESENTATIONS
from recsys.experiments.segments import (decision_log, off_policy_summary, segment_breakdown, segment_counts,
                                         segment_key, srm_summary)
from service import experiments_db as store
from service.bandit_tally import BanditTally
from service.deps import deps

PRE_PERIOD_S = 28 * 86_400.0  # CUPED's covariate: clicks in the four weeks before the start
CARDS_SLOT = "cards"
# Cards ask on every request which experiments run; a worker re-reads the list at most this often (its
# own changes at once), so another worker's start or stop reaches these cards within this many seconds.
RUNNING_REFRESH_S = 1.0
# A bandit's probabilities follow its counts; a worker brings an experiment's counts up to date at most this often
# (a cards request then reads what was logged since, and attributes one window's traffic in memory).
BANDIT_COUNTS_REFRESH_S = 5.0


class ExperimentNotFound(ExperimentError):
    pass


class ExperimentExists(ExperimentError):
    pass


class DatabaseExperiments:
    def __init__(self):
        self._ready = False
        self._running = (float("-inf"), [])  # (when read, the running experiments): one tuple, swapped whole
        self._bandits = {}  # name -> (when counted, its version, its BanditTally, counts, {segment key: probabilities})

    def _engine(self):
        engine = deps().db
        if not self._ready:
            store.ensure_tables(engine)
            self._ready = True
        return engine

    # ---- what the cards endpoint calls --------------------------------------------------------

    def assign(self, user_id: str, segment: int | None = None) -> dict | None:
        """The first experiment arm on the cards slot for this shopper: in a fixed experiment the one stored for
        them, else the one the hashes give; in a bandit experiment this request's decision. Stores nothing;
        `log_exposures` stores it (the assignment or the decision) with the cards served in it."""
        running = self._running_on(CARDS_SLOT)
        if not running:  # the common case costs no database round trip
            return None
        now = deps().clock.time()
        for experiment in running:
            if experiment.allocation == "bandit":
                if applies_to(experiment, user_id, segment):
                    return self._bandit_arm(experiment, user_id, segment, now)
                continue
            with self._engine().connect() as connection:
                arms = self._sticky_arms(connection, [experiment], {user_id: segment}, store_new=False)[user_id]
            if arms:
                return arms[0]
        return None

    def _bandit_arm(self, experiment: Experiment, user_id: str, segment: int | None, now: float) -> dict:
        config = experiment.bandit_config
        probabilities = self._bandit_probabilities(experiment, segment_key(segment))
        arm, probability = choose(probabilities, decision_draw(experiment.name, user_id, now, config.decision_window_s))
        return {**arm_description(experiment, arm), "allocation": "bandit", "segment": segment,
                "probability": probability, "probabilities": probabilities, "decided_at": now}

    def _bandit_probabilities(self, experiment: Experiment, key: str) -> dict[str, float]:
        """The segment's current assignment probabilities, from counts at most BANDIT_COUNTS_REFRESH_S old (each
        refresh reads only what was logged since the last: service.bandit_tally)."""
        clock = deps().clock
        version = (experiment.started_at, experiment.arm_names, sorted(experiment.bandit.items()),
                   experiment.attribution_window_s)
        cached = self._bandits.get(experiment.name)
        if cached is None or cached[1] != version or clock.monotonic() - cached[0] > BANDIT_COUNTS_REFRESH_S:
            tally = cached[2] if cached is not None and cached[1] == version else BanditTally(experiment)
            with self._engine().connect() as connection:
                counts = tally.refresh(connection, clock.time(), clock.monotonic())
            cached = (clock.monotonic(), version, tally, counts, {})
            self._bandits[experiment.name] = cached
        _, _, _, counts, probabilities = cached
        if key not in probabilities:
            probabilities[key] = assignment_probabilities(experiment.bandit_config, experiment.arm_names,
                                                          counts.get(key, {}))
        return probabilities[key]

    def _sticky_arms(self, connection, running: list[Experiment], users: dict[str, int | None], *,
                     store_new: bool) -> dict[str, list[dict]]:
        """user_id -> the arms they are in, one per experiment in `running` (one per layer at most).
        `users` maps each user to their taste segment (None when unknown) for segment-targeted experiments;
        `store_new` writes newcomers' arms on `connection` (a concurrent worker's first row is kept)."""
        now = deps().clock.time()
        found = {user: [] for user in users}
        for experiment in running:
            table = store.AssignmentTable(connection, experiment.name, list(users))
            for user, segment in users.items():
                arm = sticky_arm(experiment, user, table, now, segment)
                if arm is not None:
                    found[user].append({**arm_description(experiment, arm), "allocation": "fixed",
                                        "segment": segment})
            if store_new:
                table.flush()
        return found

    def _running_on(self, slot: str) -> list[Experiment]:
        return [e for e in self._running_experiments() if e.slot == slot]

    def _running_experiments(self) -> list[Experiment]:
        read_at, running = self._running
        if deps().clock.monotonic() - read_at > RUNNING_REFRESH_S:
            with self._engine().connect() as connection:
                running = store.list_experiments(connection, status="running")
            self._running = (deps().clock.monotonic(), running)
        return running

    def log_exposures(self, user_id: str, assigned: dict, cards: list[dict], slot: str = CARDS_SLOT) -> int:
        """Stores what `assign` gave, in one transaction with one exposure per card served in it; `cards` as the
        cards endpoint returns them. Fixed: the assignment (one already stored stays: the first wins). Bandit:
        the decision with its probabilities (none when no card was served), which its exposures name."""
        at = deps().clock.time()
        rows = [{"experiment": assigned["experiment"], "arm": assigned["arm"], "user_id": user_id,
                 "item_id": product_key(card["product"]["id"]), "slot": slot, "position": card["rank"],
                 "image": _image_kind(card), "timestamp": at, "segment": assigned.get("segment"),
                 "image_url": card.get("image_url")} for card in cards]
        with self._engine().begin() as connection:
            if assigned.get("allocation") == "bandit":
                if not rows:
                    return 0
                decision = store.add_decision(connection, {
                    "experiment": assigned["experiment"], "user_id": user_id, "segment": assigned.get("segment"),
                    "arm": assigned["arm"], "probability": assigned["probability"],
                    "probabilities": assigned["probabilities"], "at": assigned.get("decided_at", at)})
                rows = [{**row, "decision": decision} for row in rows]
            else:
                store.add_assignments(connection, [store.assignment_row(assigned["experiment"], user_id,
                                                                        assigned["arm"], at)])
            return store.add_exposures(connection, rows)

    def record_exposures(self, shown: list[dict], slot: str = CARDS_SLOT) -> dict[str, list[dict]]:
        """For cards a storefront rendered itself: assign each user and log what they saw, in one transaction;
        returns user_id -> their arms, one per running fixed experiment on the slot (a bandit decides per cards
        request of ours, so cards rendered elsewhere are not its decisions).
        `shown` rows have user_id, item_id, position, image and timestamp (checked by the caller)."""
        running = [e for e in self._running_on(slot) if e.allocation == "fixed"]
        users = {row["user_id"]: row.get("segment") for row in shown}
        with self._engine().begin() as connection:
            assigned = self._sticky_arms(connection, running, users, store_new=True)
            rows = [{"experiment": a["experiment"], "arm": a["arm"], "user_id": row["user_id"],
                     "item_id": row["item_id"], "slot": slot, "position": row["position"], "image": row["image"],
                     "timestamp": row["timestamp"], "segment": row.get("segment")}
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
        experiment = with_checked_presentations(Experiment.from_dict(definition))
        experiment.check_inputs()
        if (experiment.status != "draft" or experiment.layer_range or experiment.bucket_arms
                or experiment.allocation_history):
            raise ExperimentError("a new experiment is a draft: leave out status, layer_range, bucket_arms "
                                  "and allocation_history")
        with self._engine().begin() as connection:
            if not store.insert_experiment(connection, experiment):
                raise ExperimentExists(f"an experiment named {experiment.name!r} exists; choose another name")
        return experiment

    def start(self, name: str) -> Experiment:
        with self._engine().begin() as connection:
            running = store.list_experiments(connection, status="running")
            return self._change(connection, name, lambda e: start_experiment(e, running, deps().clock.time()))

    def stop(self, name: str) -> Experiment:
        with self._engine().begin() as connection:
            return self._change(connection, name, lambda e: e.stopped(deps().clock.time()))

    def reweight(self, name: str, weights: dict[str, float]) -> Experiment:
        with self._engine().begin() as connection:
            return self._change(connection, name,
                                lambda e: change_weights(e, ordered_weights(e, weights), deps().clock.time()))

    def allocate(self, name: str, allocation, bandit=None) -> Experiment:
        """Switch between a fixed split and the bandit (optionally new bandit settings); the switch time is kept."""
        with self._engine().begin() as connection:
            return self._change(connection, name, lambda e: e.reallocated(allocation, deps().clock.time(), bandit))

    def _change(self, connection, name: str, change) -> Experiment:
        experiment = store.get_experiment(connection, name)
        if experiment is None:
            raise ExperimentNotFound(f"no experiment named {name!r}")
        changed = change(experiment)
        store.save_experiment(connection, changed)
        self._running = (float("-inf"), [])  # this worker's next cards see the change
        self._bandits.pop(name, None)
        return changed

    def results(self, name: str, detailed: bool = True) -> dict:
        """The fixed analysis (arms, lifts, SRM, CUPED, breakdowns, curve) of the exposures served under the fixed
        split; per segment, every exposure's counts, CTR and the bandit's probabilities; the bandit's SRM and
        off-policy estimates from its decisions."""
        experiment = self.get(name)
        if experiment.started_at is None:
            raise ExperimentError(f"experiment {name!r} has not started; there are no results yet")
        with self._engine().connect() as connection:
            shown = store.exposure_frame(connection, name)
            outcomes = store.outcome_events(connection, name, experiment.started_at)
            until = None if experiment.stopped_at is None else experiment.stopped_at + experiment.attribution_window_s
            elsewhere = store.exposures_elsewhere(connection, name, experiment.started_at, until)
            pre_period = store.pre_period_clicks(connection, name, experiment.started_at, PRE_PERIOD_S)
            decisions = store.decision_frame(connection, name)
        arms = experiment.arm_names
        fixed = shown[shown["decision"].isna()]  # a bandit's exposures are no user-level randomised comparison
        window = experiment.attribution_window_s
        in_fixed = attribute(fixed, outcomes, window, elsewhere=elsewhere)
        analyzed = analyze(experiment, in_fixed, pre_period, detailed=detailed).to_dict()
        in_all = attribute(shown, outcomes, window, keep_multi_arm=True, elsewhere=elsewhere)
        everyone = in_all.exposures
        counts = segment_counts(everyone, arms)
        bandit = experiment.allocation == "bandit" or not decisions.empty
        config = experiment.bandit_config if bandit else None
        probabilities = None
        if experiment.allocation == "bandit" and experiment.status == "running":
            keys = set(counts) | {segment_key(s) for s in decisions["segment"]}
            probabilities = {key: assignment_probabilities(config, arms, counts.get(key, {})) for key in keys}
        segments = segment_breakdown(everyone, decisions, arms, probabilities)
        if bandit:
            for key, part in segments.items():
                part["winner"] = winner(config, arms, counts.get(key, {}))
        log = decision_log(decisions, everyone, arms)
        return json_ready({**analyzed, "attribution": _attribution(in_fixed, in_all),
                           "exposures_by_allocation": {"fixed": len(fixed), "bandit": len(shown) - len(fixed)},
                           "experiment": name, "status": experiment.status,
                           "allocation": experiment.allocation, "definition": public(experiment), "segments": segments,
                           "bandit_srm": srm_summary(log), "off_policy": off_policy_summary(log, arms)})


def _attribution(in_fixed, in_all) -> dict:
    """Outcomes are attributed over every exposure (a click on a bandit's card is the experiment's, not
    "unattributed"); users who saw several arms are left out of the fixed analysis only."""
    excluded = {key: value for key, value in in_fixed.summary().items() if key.startswith("multi_arm_")}
    return {**in_all.summary(), **excluded}


def with_checked_presentations(experiment: Experiment) -> Experiment:
    """Every arm's presentation checked as a PresentationPolicy (a 400 names arms[i].presentation.<field>) and
    stored in full, so what an arm shows is fixed at creation whatever the defaults become."""
    arms = []
    for i, arm in enumerate(experiment.arms):
        where = f"arms[{i}].presentation"
        if not isinstance(arm.presentation, dict):
            raise ExperimentError(f"{where} must be an object (kind, guidance_scale, ...); got {arm.presentation!r}")
        try:
            policy = PresentationPolicy.from_dict(arm.presentation, where)
        except PresentationError as exc:
            raise ExperimentError(re.sub(rf"^({re.escape(where)}): PresentationPolicy\.", r"\1.", str(exc))) from None
        arms.append({"name": arm.name, "weight": arm.weight, "image_policy": arm.image_policy,
                     "presentation": policy.to_dict()})
    return Experiment.from_dict({**experiment.to_dict(), "arms": arms})


def ordered_weights(experiment: Experiment, weights: dict[str, float]) -> tuple[float, ...]:
    if not isinstance(weights, dict) or set(weights) != set(experiment.arm_names):
        given = sorted(weights) if isinstance(weights, dict) else type(weights).__name__
        raise ExperimentError(f"weights must name every arm once: {list(experiment.arm_names)}; got {given}")
    return tuple(weights[name] for name in experiment.arm_names)


def arm_description(experiment: Experiment, arm_name: str) -> dict:
    arm = experiment.arms[experiment.arm_names.index(arm_name)]
    return {"experiment": experiment.name, "arm": arm.name, "image_policy": arm.image_policy,
            "presentation": dict(arm.presentation)}


def public(experiment: Experiment) -> dict:
    """An experiment as analysts see it: the definition without the bucket map."""
    shown = experiment.to_dict()
    shown.pop("bucket_arms")
    return shown


def _image_kind(card: dict) -> str:
    """What an exposure showed: "variant" (a painted scene) or "original" (the product's photo, at card size or not)."""
    return "variant" if (card.get("variant") or {}).get("ai_generated") else "original"


def arm_policy(assigned: dict | None) -> PresentationPolicy:
    """The presentation policy the arm names (checked when the experiment was created); an old-style arm's
    "original" is the product's own photo at card size (the honest control), "variant" the scene painted for the
    shopper's segment; no experiment: scenes."""
    if not assigned:
        return SCENE
    presentation = assigned.get("presentation") or LEGACY_PRESENTATIONS[assigned.get("image_policy", "variant")]
    return PresentationPolicy.from_dict(presentation)


def arm_cards(cards: list[dict], assigned: dict | None) -> list[dict]:
    """Each card marked with the experiment and arm it was shown under."""
    if not assigned:
        return cards
    return [{**card, "experiment": {"name": assigned["experiment"], "arm": assigned["arm"]}} for card in cards]
