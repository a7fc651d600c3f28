"""`tailorcard simulate-ab`'s driver: SIMULATED shoppers through the real HTTP API.

Each experiment is created, started, fed and read back over HTTP exactly as a storefront and an
analyst would: `POST /v1/exposures` (the server assigns arms), `POST /v1/events` (clicks, carts,
purchases drawn by lab.experiment_simulation's known click model), `GET .../results`.
Requests carry batches (thousands of exposures, hundreds of events) so that 200 experiments
fit in minutes on two cores. Experiments run one after another, each on its own users.
"""
from __future__ import annotations

import hashlib
import io
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from lab.experiment_simulation import ShopperModel, card_exposures, draw_shoppers, respond
from service import repository

CONTROL, TREATMENT = "control", "treatment"


@dataclass
class StudyConfig:
    experiments: int = 100  # of each kind: A/A and planted lift
    users: int = 2000  # per experiment
    cards: int = 5  # per shopper
    planted_lift: float = 0.10  # relative CTR lift of the treatment in the planted experiments
    items: int = 200
    days: float = 7.0
    seed: int = 0


def seed_products(app, n: int) -> list[int]:
    """n placeholder products (events must name live products); they are never ranked here."""
    pixel = io.BytesIO()
    Image.new("RGB", (4, 4), "grey").save(pixel, format="PNG")
    with app.extensions["tailorcard"].db.begin() as connection:
        for product_id in range(1, n + 1):
            repository.save_product(connection, {
                "product_id": product_id, "sku": str(product_id), "title": f"simulated product {product_id}",
                "attributes": {},
                "in_stock": True, "image": pixel.getvalue(), "content_hash": hashlib.sha256(b"%d" % product_id).hexdigest(),
                "vector": repository.vector_bytes(np.zeros(4)), "space_id": "simulated"})
    return list(range(1, n + 1))


class ApiClient:
    """The few calls the study makes, on a Flask test client, with the keys they need."""

    def __init__(self, client, analyst_key: str, storefront_key: str, events_per_request: int):
        self.client, self.events_per_request = client, events_per_request
        self.analyst = {"Authorization": f"Bearer {analyst_key}"}
        self.storefront = {"Authorization": f"Bearer {storefront_key}"}

    def call(self, method: str, url: str, headers: dict, body=None, ok=(200, 201, 202)) -> dict:
        response = self.client.open(url, method=method, headers=headers, json=body)
        if response.status_code not in ok:
            raise RuntimeError(f"{method} {url} -> {response.status_code}: {response.get_data(as_text=True)[:300]}")
        return response.get_json()

    def exposures(self, frame: pd.DataFrame) -> dict:
        rows = frame[["user_id", "item_id", "position", "timestamp"]].astype(object).to_dict("records")
        return self.call("POST", "/v1/exposures", self.storefront, {"exposures": rows})["assigned"]

    def events(self, frame: pd.DataFrame) -> None:
        rows = frame.astype(object).to_dict("records")
        for start in range(0, len(rows), self.events_per_request):
            self.call("POST", "/v1/events", self.storefront, rows[start:start + self.events_per_request])


def run_experiment(api: ApiClient, name: str, lift: float, config: StudyConfig, item_ids, rng) -> dict:
    """One simulated experiment through the API; its CTR lift and SRM verdict as the API reports them."""
    api.call("POST", "/v1/experiments", api.analyst, {
        "name": name, "hypothesis": f"simulated: the treatment lifts CTR by {lift:.0%}", "layer": name,
        "arms": [{"name": CONTROL, "weight": 1}, {"name": TREATMENT, "weight": 1}]})
    started = api.call("POST", f"/v1/experiments/{name}/start", api.analyst)["started_at"]
    model = ShopperModel(lifts={TREATMENT: lift})
    shoppers = draw_shoppers(config.users, model, rng, prefix=f"{name}-u")
    shown = card_exposures(shoppers, config.cards, started, config.days, len(item_ids), rng)
    shown["item_id"] = np.asarray(item_ids)[shown["item_id"]]
    arms = api.exposures(shown)
    shown["arm"] = shown["user_id"].map(lambda user: arms[user][0]["arm"])
    api.events(respond(shown, shoppers, model, rng, event_prefix=f"{name}-e"))
    results = api.call("GET", f"/v1/experiments/{name}/results?detail=summary", api.analyst)
    api.call("POST", f"/v1/experiments/{name}/stop", api.analyst)
    ctr = next(entry for entry in results["lifts"] if entry["metric"] == "ctr")
    return {"name": name, "relative": ctr["relative"], "p_value": ctr["p_value"], "srm_mismatch": results["srm"]["mismatch"],
            "users": sum(arm["users"] for arm in results["arms"]), "exposures": sum(arm["exposures"] for arm in results["arms"])}


def run_study(api: ApiClient, config: StudyConfig, item_ids, log=print) -> tuple[list[dict], list[dict]]:
    rng = np.random.default_rng(config.seed)
    runs = {"aa": [], "planted": []}
    began = time.perf_counter()
    for i in range(config.experiments):
        for kind, lift in (("aa", 0.0), ("planted", config.planted_lift)):
            runs[kind].append(run_experiment(api, f"sim-{kind}-{config.seed}-{i}", lift, config, item_ids, rng))
        if (i + 1) % 10 == 0:
            log(f"  {i + 1}/{config.experiments} pairs of experiments, {time.perf_counter() - began:.0f} s")
    return runs["aa"], runs["planted"]


def study_api(folder, config: StudyConfig) -> tuple[ApiClient, list[int]]:
    """A fresh app on a SQLite file in `folder`, with its own keys and placeholder products."""
    from service.app import create_app
    from service.auth import new_key
    analyst, storefront = new_key("analyst"), new_key("storefront")
    events_per_request = 5000
    app = create_app({"DATABASE_URL": f"sqlite:///{folder}/simulate-ab.sqlite", "JOB_QUEUE": "none",
                      "API_KEYS": [analyst, storefront], "MAX_EVENTS_PER_REQUEST": events_per_request,
                      "RATE_LIMIT_PER_SECOND": 1e6, "RATE_LIMIT_BURST": 10**6},
                     instance_path=Path(folder) / "instance")
    item_ids = seed_products(app, config.items)
    return ApiClient(app.test_client(), analyst["key"], storefront["key"], events_per_request), item_ids
