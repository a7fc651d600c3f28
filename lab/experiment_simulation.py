"""SIMULATED shoppers with a known click model, to check that the analysis tells the truth.

Shopper u has a click propensity p_u ~ Beta(base_ctr * k, (1 - base_ctr) * k) (k =
`concentration`; heterogeneous users, as real ones are). A card served under arm a is
clicked with probability min(1, p_u * (1 + lift[a])); a click becomes an add-to-cart with
`cart_rate` and an add-to-cart a purchase with `purchase_rate`. Before the experiment each
shopper saw `pre_period_cards` cards with the same p_u, so their pre-period clicks correlate
with their in-experiment clicks (what CUPED uses). Nothing here is real behaviour.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from features.checks import check_fields, number, whole
from recsys.experiments.assignment import hashed_arm
from recsys.experiments.model import Experiment, ExperimentError

SIMULATED_NOTE = "simulated shoppers with a known click model (not real behaviour)"
CLICK_DELAY_S = (5.0, 120.0)  # a click follows its card within this range; carts and purchases follow the click


@dataclass
class ShopperModel:
    base_ctr: float = 0.10
    concentration: float = 20.0
    cart_rate: float = 0.3
    purchase_rate: float = 0.4
    pre_period_cards: int = 20
    lifts: dict = field(default_factory=dict)  # arm name -> true relative CTR lift; absent arms 0

    def check_inputs(self) -> None:
        check_fields(self, ExperimentError, (
            ("base_ctr", number(self.base_ctr, 0, 1), "a probability in 0..1"),
            ("concentration", number(self.concentration, 0, above=True), "a number > 0"),
            ("cart_rate", number(self.cart_rate, 0, 1), "a probability in 0..1"),
            ("purchase_rate", number(self.purchase_rate, 0, 1), "a probability in 0..1"),
            ("pre_period_cards", whole(self.pre_period_cards, 0), "an integer >= 0"),
            ("lifts", isinstance(self.lifts, dict) and all(number(v, -1, above=True) for v in self.lifts.values()),
             "arm name -> true relative CTR lift, each above -1"),
        ))

    def to_dict(self) -> dict:
        return {"simulated": True, **asdict(self)}


@dataclass
class Shoppers:
    """Simulated shoppers: ids, true click propensities, pre-period clicks (a pandas Series by id)."""

    ids: np.ndarray
    propensity: np.ndarray
    pre_period: pd.Series


def draw_shoppers(n: int, model: ShopperModel, rng: np.random.Generator, prefix: str = "sim") -> Shoppers:
    model.check_inputs()
    ids = np.array([f"{prefix}-{i}" for i in range(n)])
    propensity = rng.beta(model.base_ctr * model.concentration, (1 - model.base_ctr) * model.concentration, n)
    pre_clicks = rng.binomial(model.pre_period_cards, propensity).astype(float)
    return Shoppers(ids, propensity, pd.Series(pre_clicks, index=ids, name="pre_period"))


def card_exposures(shoppers: Shoppers, cards_per_user: int, start: float, days: float, n_items: int,
                   rng: np.random.Generator) -> pd.DataFrame:
    """Who is shown which product when: each shopper comes once at a uniform time and sees a grid."""
    n = len(shoppers.ids)
    visit = start + rng.uniform(0, days * 86_400.0, n)
    return pd.DataFrame({
        "user_id": np.repeat(shoppers.ids, cards_per_user),
        "item_id": rng.integers(0, n_items, n * cards_per_user),
        "position": np.tile(np.arange(1, cards_per_user + 1), n),  # ranks, 1 = first card
        "timestamp": np.repeat(visit, cards_per_user),
    })


def respond(exposures: pd.DataFrame, shoppers: Shoppers, model: ShopperModel, rng: np.random.Generator,
            event_prefix: str = "sim") -> pd.DataFrame:
    """Events the click model draws for served cards (`exposures` has user_id, item_id, arm, timestamp)."""
    index = pd.Series(np.arange(len(shoppers.ids)), index=shoppers.ids)
    p_user = shoppers.propensity[index[exposures["user_id"]].to_numpy()]
    lift = exposures["arm"].map(lambda arm: model.lifts.get(arm, 0.0)).to_numpy(dtype=float)
    clicked = rng.random(len(exposures)) < np.minimum(1.0, p_user * (1 + lift))
    carted = clicked & (rng.random(len(exposures)) < model.cart_rate)
    purchased = carted & (rng.random(len(exposures)) < model.purchase_rate)
    click_time = exposures["timestamp"].to_numpy() + rng.uniform(*CLICK_DELAY_S, len(exposures))
    parts = [_events(exposures[mask], click_time[mask] + offset, kind)
             for mask, kind, offset in ((clicked, "click", 0.0), (carted, "add_to_cart", 60.0),
                                        (purchased, "purchase", 600.0))]
    events = pd.concat(parts, ignore_index=True)
    events.insert(0, "event_id", [f"{event_prefix}-{i}" for i in range(len(events))])
    return events


def _events(exposures: pd.DataFrame, times: np.ndarray, kind: str) -> pd.DataFrame:
    return pd.DataFrame({"user_id": exposures["user_id"].to_numpy(), "item_id": exposures["item_id"].to_numpy(),
                         "type": kind, "timestamp": times})


def trust_summary(aa: list[dict], planted: list[dict], alpha: float = 0.05) -> dict:
    """Rates over repeated experiments; each entry is a lift dict (p_value, relative) plus `srm_mismatch`."""
    if not aa or not planted:
        raise ExperimentError(f"need A/A and planted runs; got {len(aa)} and {len(planted)}")
    everything = aa + planted
    return {
        "aa_false_positive_rate": float(np.mean([run["p_value"] < alpha for run in aa])),
        "planted_lift_power": float(np.mean([run["p_value"] < alpha for run in planted])),
        "planted_lift_estimate": float(np.mean([run["relative"] for run in planted])),
        "planted_lift_estimate_sd": float(np.std([run["relative"] for run in planted], ddof=1)),
        "srm_false_alarm_rate": float(np.mean([run["srm_mismatch"] for run in everything])),
        "experiments": {"aa": len(aa), "planted": len(planted)},
        "simulated": SIMULATED_NOTE,
    }


def simulate_in_process(experiment: Experiment, model: ShopperModel, n_users: int, cards_per_user: int = 5,
                        seed: int = 0, days: float = 14.0, n_items: int = 1000):
    """Assignment, shoppers and their events without any service: (exposures, events, shoppers)."""
    rng = np.random.default_rng(seed)
    shoppers = draw_shoppers(n_users, model, rng, prefix=f"{experiment.name}-u")
    exposures = card_exposures(shoppers, cards_per_user, experiment.started_at or 0.0, days, n_items, rng)
    arms = {user: hashed_arm(experiment, user) for user in shoppers.ids}
    exposures["arm"] = exposures["user_id"].map(arms)
    exposures = exposures[exposures["arm"].notna()].reset_index(drop=True)
    return exposures, respond(exposures, shoppers, model, rng, event_prefix=f"{experiment.name}-e"), shoppers
