"""The same service on the real servers: PostgreSQL (TAILORCARD_TEST_POSTGRES_URL) and RQ over Redis
(TAILORCARD_TEST_REDIS_URL). `.ci/run` sets both; elsewhere these tests are skipped and say why."""
from __future__ import annotations

import os
import time

import pytest
import sqlalchemy as sa
from service_helpers import (FakeVariantStore, N_PRODUCTS, ORIGINALS_ONLY, SHIPPED_CATALOGUE, auth, make_app,
                             shopper_wanting_variants, start_experiment, stored_experiment_rows)

from features.catalogue import load_catalogue
from service import experiments_db
from service.bandit_tally import BanditTally
from service.bootstrap import seed
from service.db import make_engine, metadata

POSTGRES_URL = os.environ.get("TAILORCARD_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("TAILORCARD_TEST_REDIS_URL")
needs_postgres = pytest.mark.skipif(not POSTGRES_URL, reason="TAILORCARD_TEST_POSTGRES_URL is not set "
                                    "(e.g. postgresql://postgres@127.0.0.1:5432/test); PostgreSQL tests skipped")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="TAILORCARD_TEST_REDIS_URL is not set "
                                 "(e.g. redis://127.0.0.1:6379/0); RQ-over-Redis tests skipped")
STOREFRONT = auth("storefront")


@pytest.fixture
def postgres_url(tiny_encoder):
    engine = make_engine(POSTGRES_URL)
    metadata.drop_all(engine)  # the test database is ours: start empty
    metadata.create_all(engine)
    catalogue = load_catalogue(SHIPPED_CATALOGUE, check_images=False)
    seed(engine, catalogue.subset(catalogue.ids[:N_PRODUCTS]), tiny_encoder, simulated_users=12, segments=2)
    engine.dispose()
    return POSTGRES_URL


@needs_postgres
def test_postgres_events_idempotency_and_restart(postgres_url, tiny_encoder):
    app = make_app(postgres_url, tiny_encoder)
    client = app.test_client()
    item = client.get("/v1/users/pg/cards?n=1", headers=STOREFRONT).json["cards"][0]["product"]["id"]
    body = {"event_id": "pg-1", "user_id": "pg", "item_id": item, "type": "like", "timestamp": 1.9e9}
    assert client.post("/v1/events", json=body, headers=STOREFRONT).json == {"accepted": 1, "duplicates": 0}
    assert client.post("/v1/events", json=body, headers=STOREFRONT).json == {"accepted": 0, "duplicates": 1}
    before = client.get("/v1/users/pg/cards?n=5", headers=STOREFRONT).json["cards"]
    app.extensions["tailorcard"].db.dispose()
    restarted = make_app(postgres_url, tiny_encoder).test_client()
    after = restarted.get("/v1/users/pg/cards?n=5", headers=STOREFRONT).json["cards"]
    assert [c["product"]["id"] for c in after] == [c["product"]["id"] for c in before]
    assert [r.get("item_id") for r in after[0]["explanation"] if "item_id" in r] == [item]


@needs_postgres
def test_postgres_cards_store_a_sticky_assignment_with_its_exposures(postgres_url, tiny_encoder):
    app = make_app(postgres_url, tiny_encoder)
    client = app.test_client()
    start_experiment(client, "frames", ORIGINALS_ONLY)
    arms = [client.get("/v1/users/pg/cards?n=2", headers=STOREFRONT).json["experiment"]["arm"] for _ in range(2)]
    assert arms[0] == arms[1]
    assert stored_experiment_rows(app, "pg") == (arms[:1], [(arms[0], 1), (arms[0], 2)] * 2)


@needs_postgres
def test_postgres_bandit_counts_leave_out_a_click_after_another_experiments_exposure(postgres_url, tiny_encoder):
    """The bandit's running counts read its log and the other experiments' exposures on PostgreSQL
    (service.bandit_tally): a click after a later exposure of the product elsewhere is not counted."""
    app = make_app(postgres_url, tiny_encoder)
    client = app.test_client()
    bandit = {"name": "pg-bandit", "primary_metric": "ctr", "arms": ORIGINALS_ONLY, "allocation": "bandit",
              "bandit": {"control_share": 0.5}}
    assert client.post("/v1/experiments", json=bandit, headers=auth("analyst")).status_code == 201
    assert client.post("/v1/experiments/pg-bandit/start", headers=auth("analyst")).status_code == 200
    items = {user: client.get(f"/v1/users/{user}/cards?n=1", headers=STOREFRONT).json["cards"][0]["product"]["id"]
             for user in ("pg-a", "pg-b")}
    with app.extensions["tailorcard"].db.begin() as connection:  # another experiment shows pg-b the product again
        experiments_db.add_exposures(connection, [{"experiment": "elsewhere", "arm": "a", "user_id": "pg-b",
                                                   "item_id": int(items["pg-b"]), "slot": "home", "position": 0,
                                                   "image": "original", "timestamp": time.time() + 1}])
    clicks = [{"event_id": f"pg-click-{user}", "user_id": user, "item_id": item, "type": "click",
               "timestamp": time.time() + 2} for user, item in items.items()]
    assert client.post("/v1/events", json=clicks, headers=STOREFRONT).status_code in (200, 202)
    with app.app_context():
        tally = BanditTally(app.extensions["tailorcard"].experiments.get("pg-bandit"))
    with app.extensions["tailorcard"].db.connect() as connection:
        counts = tally.refresh(connection, time.time() + 3, 0.0)
    assert sum(clicked for arms in counts.values() for _, clicked in arms.values()) == 1  # pg-a's alone
    assert sum(shown for arms in counts.values() for shown, _ in arms.values()) == 2


@needs_postgres
@needs_redis
def test_rq_workers_take_jobs_over_redis(postgres_url, tiny_encoder):
    from rq import SimpleWorker

    from service import jobs
    store = FakeVariantStore()
    app = make_app(postgres_url, tiny_encoder, JOB_QUEUE="rq", REDIS_URL=REDIS_URL, VARIANT_STORE=store)
    queue = app.extensions["tailorcard"].jobs.rq_queue
    queue.empty()
    user, wanting = shopper_wanting_variants(app, 2)
    app.test_client().get(f"/v1/users/{user}/cards?n=2", headers=STOREFRONT)
    assert queue.count == 2 * wanting  # per card: the scene and the photo at card size
    jobs.set_worker_app(app)  # what `rq worker tailorcard` does through create_app() from its environment
    try:
        SimpleWorker([queue], connection=queue.connection).work(burst=True)
    finally:
        jobs.set_worker_app(None)
    assert store.generated == 2 * wanting and queue.count == 0
    with app.extensions["tailorcard"].db.connect() as connection:
        statuses = connection.execute(sa.select(jobs.jobs.c.status)).scalars().all()
    assert statuses == ["done"] * (2 * wanting)
