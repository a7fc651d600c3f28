"""What an experiment is: arms with traffic weights and a presentation, a layer, a target, metrics, an allocation.

An experiment is a plain value (constructor kwargs, saved as JSON). It changes only through
methods that return a new one (`started`, `stopped`, `reweighted`, `reallocated`), so the caller decides
when to persist. The first arm is the control; lifts are measured against it.

An arm's `presentation` is a presentation policy as a dict (imagegen.presentation.PresentationPolicy
fields: kind "original" | "upscaled" | "scene", guidance_scale, num_inference_steps, seed, backdrop_blur, round,
candidates).
recsys cannot import imagegen, so the arm keeps the dict and the service checks it with PresentationPolicy.
Old definitions name an `image_policy` instead: "original" (the photo at card size) or "variant" (the scene
for the shopper's segment); they map to {"kind": "upscaled"} and {"kind": "scene"}.

`allocation` is "fixed" (sticky per user, by the weights) or "bandit" (per cards request, Thompson sampling
per taste segment with `bandit` = recsys.experiments.bandit.BanditConfig fields); `allocation_history`
records every switch, (since, allocation), from the start on.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

from features.checks import from_fields
from features.errors import TailorcardError
from features.ids import ID_RULE, echo, is_id

IMAGE_POLICIES = ("original", "variant")  # the product photo; the variant made for the shopper's taste segment
# What an old-style image_policy means as a presentation policy (imagegen.presentation.PresentationPolicy fields).
LEGACY_PRESENTATIONS = {"original": {"kind": "upscaled"}, "variant": {"kind": "scene"}}
PRESENTATION_KINDS = ("original", "upscaled", "scene")
PHOTO_KINDS = ("original", "upscaled")  # the product's own photo: what a bandit's control must show
DEFAULT_KIND = "scene"  # PresentationPolicy's default kind, for a presentation dict without one
ALLOCATIONS = ("fixed", "bandit")
METRICS = ("ctr", "add_to_cart_rate", "conversion_rate")
STATUSES = ("draft", "running", "stopped")
DAY_SECONDS = 86_400.0


class ExperimentError(TailorcardError):
    """An experiment definition or change that cannot be accepted; the message names the field."""


@dataclass(frozen=True)
class Arm:
    """One arm: its share of the experiment's traffic and how it presents the product (a presentation policy).

    Give `presentation` (a PresentationPolicy dict) or, as old definitions do, `image_policy`; the other is
    derived, so a stored arm has both. `image_policy` stays the coarse label ("original": the product's own
    photo, "variant": a painted scene) that exposures and old clients read."""

    name: str
    weight: float
    image_policy: str = ""  # empty: derived from the presentation ("original" when neither is given)
    presentation: dict = field(default_factory=dict)  # empty: derived from the image policy

    def __post_init__(self):
        presentation, image_policy = self.presentation, self.image_policy
        if isinstance(presentation, dict) and not presentation and image_policy in ("", *IMAGE_POLICIES):
            presentation = dict(LEGACY_PRESENTATIONS[image_policy or "original"])
        if image_policy == "" and isinstance(presentation, dict):
            image_policy = image_policy_of(presentation)
        object.__setattr__(self, "presentation", dict(presentation) if isinstance(presentation, dict) else presentation)
        object.__setattr__(self, "image_policy", image_policy)

    @property
    def kind(self) -> str:
        return self.presentation.get("kind", DEFAULT_KIND)

    def check_inputs(self, where: str) -> None:
        _check_id(self.name, f"{where}.name")
        if not isinstance(self.weight, (int, float)) or isinstance(self.weight, bool) or not 0 <= self.weight <= 1000:
            raise ExperimentError(f"{where}.weight must be a number in 0..1000; got {self.weight!r}")
        if self.image_policy not in IMAGE_POLICIES:
            raise ExperimentError(f"{where}.image_policy must be one of {list(IMAGE_POLICIES)} (or left out: "
                                  f"name a presentation instead); got {echo(self.image_policy)}")
        if not isinstance(self.presentation, dict):
            raise ExperimentError(f"{where}.presentation must be an object (a presentation policy: kind, "
                                  f"guidance_scale, ...); got {echo(self.presentation)}")
        if self.kind not in PRESENTATION_KINDS:
            raise ExperimentError(f"{where}.presentation.kind must be one of {list(PRESENTATION_KINDS)}; "
                                  f"got {echo(self.kind)}")
        if image_policy_of(self.presentation) != self.image_policy:
            raise ExperimentError(f"{where}.image_policy {self.image_policy!r} contradicts presentation.kind "
                                  f"{self.kind!r}; give one of them (image_policy is the old way)")


def image_policy_of(presentation: dict) -> str:
    """The coarse label of a presentation: "original" for the product's own photo, else "variant"."""
    return "original" if presentation.get("kind", DEFAULT_KIND) in PHOTO_KINDS else "variant"


def arm_from_json(data, where: str) -> Arm:
    """An Arm from JSON; an old stored arm's empty `generator_params` (a field that is gone) is dropped."""
    if isinstance(data, dict) and "generator_params" in data:
        if not (isinstance(data["generator_params"], dict) and not data["generator_params"]):
            raise ExperimentError(f"{where}.generator_params are gone: name the generator settings in "
                                  f"{where}.presentation (kind 'scene', guidance_scale, num_inference_steps, seed, "
                                  f"backdrop_blur); got {echo(data['generator_params'])}")
        data = {k: v for k, v in data.items() if k != "generator_params"}
    return _build(Arm, data, where)


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
    allocation: str = "fixed"  # "fixed": sticky per user by the weights; "bandit": per request, per segment
    bandit: dict = field(default_factory=dict)  # BanditConfig fields (recsys.experiments.bandit); empty: defaults
    allocation_history: tuple[tuple[float, str], ...] = ()  # (since, allocation), from the start on

    def __post_init__(self):
        # Accept plain lists / dicts (JSON) as well as the typed values.
        if not isinstance(self.arms, (list, tuple)):
            raise ExperimentError(f"arms must be a list of arms; got {echo(self.arms)}")
        arms = tuple(a if isinstance(a, Arm) else arm_from_json(a, f"arms[{i}]") for i, a in enumerate(self.arms))
        population = self.population if isinstance(self.population, Population) else _build(
            Population, {**self.population, "segments": tuple(self.population.get("segments", ()))}, "population")
        object.__setattr__(self, "arms", arms)
        object.__setattr__(self, "population", population)
        object.__setattr__(self, "guardrails", tuple(self.guardrails))
        object.__setattr__(self, "bucket_arms", tuple(self.bucket_arms))
        object.__setattr__(self, "weight_history", tuple((float(t), tuple(w)) for t, w in self.weight_history))
        object.__setattr__(self, "allocation_history", tuple((float(t), str(a)) for t, a in self.allocation_history))
        if isinstance(self.bandit, dict):
            object.__setattr__(self, "bandit", dict(self.bandit))
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

    @property
    def bandit_config(self):
        """The bandit settings as a recsys.experiments.bandit.BanditConfig (checked)."""
        from recsys.experiments.bandit import BanditConfig  # bandit imports this module
        if not isinstance(self.bandit, dict):
            raise ExperimentError(f"bandit must be an object of bandit settings; got {echo(self.bandit)}")
        config = _build(BanditConfig, self.bandit, "bandit")
        config.check_inputs()
        return config

    def check_allocation(self) -> None:
        """The allocation and bandit settings fit these arms; a bandit's control shows the product's photo."""
        if self.allocation not in ALLOCATIONS:
            raise ExperimentError(f"allocation must be one of {list(ALLOCATIONS)}; got {echo(self.allocation)}")
        if self.allocation == "fixed" and self.bandit == {}:
            return  # nothing of the bandit to check
        config = self.bandit_config
        if config.control_arm not in ("", self.control.name):
            raise ExperimentError(f"bandit.control_arm must be the first arm ({self.control.name!r}, the control "
                                  f"that lifts are measured against) or empty; got {echo(config.control_arm)}")
        config.control_index(self.arm_names)
        if self.allocation == "bandit" and self.control.kind not in PHOTO_KINDS:
            raise ExperimentError(f"in bandit mode the control (the first arm, {self.control.name!r}) must show the "
                                  f"product's own photo: presentation.kind one of {list(PHOTO_KINDS)} (or "
                                  f"image_policy 'original'); got kind {self.control.kind!r}")

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
        self.check_allocation()

    def started(self, now: float, layer_range: tuple[int, int], bucket_arms: tuple[int, ...]) -> "Experiment":
        if self.status != "draft":
            raise ExperimentError(f"experiment {self.name!r} is {self.status}; only a draft can be started")
        return replace(self, status="running", started_at=now, layer_range=tuple(layer_range),
                       bucket_arms=tuple(bucket_arms), weight_history=((now, self.weights),),
                       allocation_history=((now, self.allocation),))

    def reallocated(self, allocation: str, now: float, bandit: dict | None = None) -> "Experiment":
        """Switch between a fixed split and the bandit (optionally with new bandit settings); a running
        experiment records the switch time. Users assigned under the fixed split keep their arm."""
        if self.status == "stopped":
            raise ExperimentError(f"experiment {self.name!r} is stopped; its allocation can no longer change")
        changed = replace(self, allocation=allocation, bandit=self.bandit if bandit is None else bandit)
        changed.check_allocation()
        if self.status == "running" and allocation != self.allocation:
            changed = replace(changed, allocation_history=self.allocation_history + ((now, allocation),))
        return changed

    def allocation_at(self, at: float) -> str:
        """The allocation in force at time `at` (the first one before the start, the current one if never started)."""
        for since, allocation in reversed(self.allocation_history):
            if at >= since:
                return allocation
        return self.allocation_history[0][1] if self.allocation_history else self.allocation

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
