"""What an experiment is: arms with traffic weights and an image policy, a layer, a target, metrics.

An experiment is a plain value (constructor kwargs, saved as JSON). It changes only through
methods that return a new one (`started`, `stopped`, `reweighted`), so the caller decides
when to persist. The first arm is the control; lifts are measured against it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

from features.checks import from_fields
from features.errors import TailorcardError
from features.ids import ID_RULE, echo, is_id

IMAGE_POLICIES = ("original", "variant")  # the product photo; the variant made for the shopper's taste segment
# An arm drawing variants with its own generator parameters needs a variant store keyed by parameters too;
# until then such an arm would show the same variants as a "variant" arm, so it is refused.
NOT_YET_SUPPORTED = {"variant_params": "variants drawn with the arm's own generator_params"}
METRICS = ("ctr", "add_to_cart_rate", "conversion_rate")
STATUSES = ("draft", "running", "stopped")
DAY_SECONDS = 86_400.0


class ExperimentError(TailorcardError):
    """An experiment definition or change that cannot be accepted; the message names the field."""


@dataclass(frozen=True)
class Arm:
    """One arm: its share of the experiment's traffic and which product image it serves."""

    name: str
    weight: float
    image_policy: str = "original"
    generator_params: dict = field(default_factory=dict)  # reserved for image policy "variant_params" (not yet)

    def check_inputs(self, where: str) -> None:
        _check_id(self.name, f"{where}.name")
        if not isinstance(self.weight, (int, float)) or not 0 <= self.weight <= 1000:
            raise ExperimentError(f"{where}.weight must be a number in 0..1000; got {self.weight!r}")
        if isinstance(self.image_policy, str) and self.image_policy in NOT_YET_SUPPORTED:
            raise ExperimentError(f"{where}.image_policy {self.image_policy!r} "
                                  f"({NOT_YET_SUPPORTED[self.image_policy]}) is not supported yet; "
                                  f"expected one of {list(IMAGE_POLICIES)}")
        if self.image_policy not in IMAGE_POLICIES:
            raise ExperimentError(f"{where}.image_policy must be one of {list(IMAGE_POLICIES)}; "
                                  f"got {echo(self.image_policy)}")
        if self.generator_params:
            raise ExperimentError(f"{where}.generator_params are for image policy 'variant_params', which is not "
                                  f"supported yet; leave them out (got {echo(self.generator_params)})")


@dataclass(frozen=True)
class Population:
    """Who may enter: a share of the layer's traffic, optionally only some taste segments."""

    traffic: float = 1.0  # fraction of the layer's buckets this experiment claims
    segments: tuple[int, ...] = ()  # empty = every segment

    def check_inputs(self) -> None:
        if not isinstance(self.traffic, (int, float)) or not 0 < self.traffic <= 1:
            raise ExperimentError(f"population.traffic must be in (0, 1]; got {self.traffic!r}")
        if not all(isinstance(s, int) and s >= 0 for s in self.segments):
            raise ExperimentError(f"population.segments must be non-negative integers; got {list(self.segments)}")

    def admits(self, segment: int | None) -> bool:
        return not self.segments or segment in self.segments


@dataclass(frozen=True)
class Experiment:
    """An A/B(/n) test on one slot. Experiments in the same layer never share a user."""

    name: str
    arms: tuple[Arm, ...]
    hypothesis: str = ""
    slot: str = "cards"  # where the cards are shown (the cards endpoint serves slot "cards")
    layer: str = ""  # empty = the slot: two experiments on one slot exclude each other by default
    population: Population = Population()
    primary_metric: str = "ctr"
    guardrails: tuple[str, ...] = ()
    attribution_window_s: float = DAY_SECONDS
    salt: str = ""  # empty = the name; assignment hashes salt + user id
    status: str = "draft"
    started_at: float | None = None
    stopped_at: float | None = None
    layer_range: tuple[int, int] | None = None  # [start, end) of the layer's buckets, claimed at start
    bucket_arms: tuple[int, ...] = ()  # arm index per assignment bucket; see assignment.BucketMap
    weight_history: tuple[tuple[float, tuple[float, ...]], ...] = ()  # (since, weights): for the SRM check

    def __post_init__(self):
        # Accept plain lists / dicts (JSON) as well as the typed values.
        arms = tuple(a if isinstance(a, Arm) else _build(Arm, a, "arm") for a in self.arms)
        population = self.population if isinstance(self.population, Population) else _build(
            Population, {**self.population, "segments": tuple(self.population.get("segments", ()))}, "population")
        object.__setattr__(self, "arms", arms)
        object.__setattr__(self, "population", population)
        object.__setattr__(self, "guardrails", tuple(self.guardrails))
        object.__setattr__(self, "bucket_arms", tuple(self.bucket_arms))
        object.__setattr__(self, "weight_history", tuple((float(t), tuple(w)) for t, w in self.weight_history))
        if self.layer_range is not None:
            object.__setattr__(self, "layer_range", tuple(self.layer_range))

    @property
    def layer_name(self) -> str:
        return self.layer or self.slot

    @property
    def hash_salt(self) -> str:
        return self.salt or self.name

    @property
    def weights(self) -> tuple[float, ...]:
        return tuple(float(a.weight) for a in self.arms)

    @property
    def arm_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.arms)

    @property
    def control(self) -> Arm:
        return self.arms[0]

    def check_inputs(self) -> None:
        _check_id(self.name, "name")
        if len(self.arms) < 2:
            raise ExperimentError(f"an experiment needs at least 2 arms (the first is the control); got {len(self.arms)}")
        for i, arm in enumerate(self.arms):
            arm.check_inputs(f"arms[{i}]")
        _check_weights(self.weights)
        duplicated = sorted({a.name for a in self.arms if self.arm_names.count(a.name) > 1})
        if duplicated:
            raise ExperimentError(f"arm names must be unique; {duplicated} repeated")
        _check_id(self.slot, "slot (where the cards are shown)")
        for label in ("layer", "salt"):
            if getattr(self, label) != "":  # empty: the default (the slot; the name)
                _check_id(getattr(self, label), f"{label} (or empty)")
        self.population.check_inputs()
        unknown = [m for m in (self.primary_metric, *self.guardrails) if m not in METRICS]
        if unknown:
            raise ExperimentError(f"primary_metric and guardrails must be among {list(METRICS)}; got {unknown}")
        if not isinstance(self.attribution_window_s, (int, float)) or not 0 < self.attribution_window_s <= 90 * DAY_SECONDS:
            raise ExperimentError(f"attribution_window_s must be in (0, 90 days]; got {self.attribution_window_s!r}")
        if self.status not in STATUSES:
            raise ExperimentError(f"status must be one of {list(STATUSES)}; got {self.status!r}")

    def started(self, now: float, layer_range: tuple[int, int], bucket_arms: tuple[int, ...]) -> "Experiment":
        if self.status != "draft":
            raise ExperimentError(f"experiment {self.name!r} is {self.status}; only a draft can be started")
        return replace(self, status="running", started_at=now, layer_range=tuple(layer_range),
                       bucket_arms=tuple(bucket_arms), weight_history=((now, self.weights),))

    def stopped(self, now: float) -> "Experiment":
        if self.status != "running":
            raise ExperimentError(f"experiment {self.name!r} is {self.status}; only a running one can be stopped")
        return replace(self, status="stopped", stopped_at=now)

    def reweighted(self, weights, now: float, bucket_arms: tuple[int, ...] | None = None) -> "Experiment":
        """New traffic weights (one per arm, in arm order). Assignments already made are kept by the caller."""
        weights = tuple(weights)
        if len(weights) != len(self.arms):
            raise ExperimentError(f"expected {len(self.arms)} weights (arms {list(self.arm_names)}); got {len(weights)}")
        _check_weights(weights)
        if self.status == "stopped":
            raise ExperimentError(f"experiment {self.name!r} is stopped; its weights can no longer change")
        arms = tuple(replace(a, weight=float(w)) for a, w in zip(self.arms, weights))
        history = self.weight_history + ((now, weights),) if self.status == "running" else ()
        return replace(self, arms=arms, bucket_arms=tuple(bucket_arms or self.bucket_arms), weight_history=history)

    def to_dict(self) -> dict:
        # Not dataclasses.asdict: it would deep-copy the 10,000-entry bucket map element by element.
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        return {**data, "arms": [asdict(arm) for arm in self.arms], "population": asdict(self.population)}

    @classmethod
    def from_dict(cls, data: dict) -> "Experiment":
        return _build(cls, data, "experiment")


def _check_weights(weights) -> None:
    if not all(isinstance(w, (int, float)) and w >= 0 for w in weights) or sum(weights) <= 0:
        raise ExperimentError(f"weights must be non-negative numbers with a positive sum; got {list(weights)}")


def _check_id(value, label: str) -> None:
    """Names of experiments and arms, slots, layers and salts follow the one id rule (features.ids): each is
    a URL path segment, a CSV cell and a database key."""
    if not is_id(value):
        raise ExperimentError(f"{label} must be an id ({ID_RULE}); got {echo(value)}")


def _build(cls, data, where: str):
    """cls(**data) with an error that names the unknown or missing fields instead of a TypeError."""
    return from_fields(cls, data, where, ExperimentError)
