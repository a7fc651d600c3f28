"""Any store: a grocer's catalogue (string SKUs, a text-only product, attributes of its own) is served with no
simulated shopper, takes events and follows its catalogue file through sync (issue 14)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from service_helpers import auth, make_app

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from store_catalogues import write_grocery_catalogue  # noqa: E402

from features.catalogue import load_catalogue  # noqa: E402
from service.bootstrap import seed  # noqa: E402
from service.catalogue_sync import apply_sync, plan_sync, stored_state  # noqa: E402
from service.db import create_or_upgrade, make_engine  # noqa: E402

STOREFRONT, ADMIN = auth("storefront"), auth("admin")


@pytest.fixture
def grocery(tmp_path, tiny_encoder):
    folder = write_grocery_catalogue(tmp_path / "grocery")
    url = f"sqlite:///{tmp_path / 'grocery.sqlite'}"
    engine = make_engine(url)
    create_or_upgrade(engine)
    report = seed(engine, load_catalogue(folder), tiny_encoder, segments=2)
    assert (report.products, report.events, report.users, report.segments) == (5, 0, 0, 2)
    return folder, engine, url


def test_a_real_store_starts_with_nobody_and_serves_cards_by_its_own_ids(grocery, tiny_encoder):
    _, _, url = grocery
    client = make_app(url, tiny_encoder).test_client()
    assert client.get("/v1/users", headers=STOREFRONT).json["users"] == []
    cards = client.get("/v1/users/first-shopper/cards?n=5", headers=STOREFRONT).json["cards"]
    assert sorted(card["product"]["id"] for card in cards) == ["APL-001", "BAN-002", "BRD-7", "MLK-010", "OAT-55"]
    oats = next(card for card in cards if card["product"]["id"] == "OAT-55")
    assert oats["image_url"] is None and oats["product"]["attributes"] == {"brand": "Morning", "aisle": "cereal"}
    event = {"event_id": "g1", "user_id": "first-shopper", "item_id": "APL-001", "type": "view", "timestamp": time.time()}
    assert client.post("/v1/events", json=event, headers=STOREFRONT).status_code == 202
    assert client.get("/v1/users", headers=STOREFRONT).json["users"] == [
        {"user_id": "first-shopper", "events": 1, "simulated": False}]


def test_sync_adds_changes_and_deletes_once_and_reembeds_only_what_the_encoder_reads(grocery, tiny_encoder):
    folder, engine, url = grocery
    client = make_app(url, tiny_encoder).test_client()
    text = (folder / "catalogue.csv").read_text()
    text = text.replace("Sourdough loaf;", "Sourdough bloomer;")  # renamed: its photo is what is embedded
    text = text.replace("Rolled oats, 500 g;", "Jumbo oats, 500 g;")  # text-only: its text is what is embedded
    text = text.replace("MLK-010;Whole milk, 2 L;;images/milk.png;Dairy Fresh;dairy\n", "")  # gone
    text += "EGG-12;Free-range eggs, 12;;;Hen House;dairy\n"  # new
    (folder / "catalogue.csv").write_text(text)
    catalogue = load_catalogue(folder)
    with engine.connect() as connection:
        plan = plan_sync(catalogue, stored_state(connection))
    names = plan.summary(catalogue, {})
    assert (names["added"], sorted(names["changed"]), names["deleted"]) == (["EGG-12"], ["BRD-7", "OAT-55"],
                                                                              [str(plan.deletes[0])])
    assert apply_sync(engine, catalogue, tiny_encoder, plan) == 2  # EGG-12 and the oats; the loaf kept its vector
    assert client.get("/v1/items/BRD-7", headers=ADMIN).json["title"] == "Sourdough bloomer"
    assert client.get("/v1/items/MLK-010", headers=ADMIN).status_code == 404
    cards = client.get("/v1/users/someone/cards?n=10", headers=STOREFRONT).json["cards"]  # a running worker follows
    assert "EGG-12" in {card["product"]["id"] for card in cards} and "MLK-010" not in {c["product"]["id"] for c in cards}
    with engine.connect() as connection:
        again = plan_sync(catalogue, stored_state(connection))
    assert (again.adds, again.changes, again.deletes, again.unchanged) == ([], [], [], 5)  # idempotent


def test_a_new_stores_first_events_become_its_popularity_without_a_restart(grocery, tiny_encoder, monkeypatch):
    from service import live as live_module
    monkeypatch.setattr(live_module, "REFRESH_EVENTS", 3)
    _, _, url = grocery
    app = make_app(url, tiny_encoder)
    client = app.test_client()
    now = time.time()
    bought = [{"event_id": f"b{i}", "user_id": f"buyer-{i}", "item_id": "BRD-7", "type": "purchase",
               "timestamp": now + i} for i in range(4)]
    assert client.post("/v1/events", json=bought, headers=STOREFRONT).status_code == 202
    live = app.extensions["tailorcard"].live.get()
    live.catch_up()
    assert live.refresh_popularity() is True  # due: this worker refreshed the prior and rebuilt
    assert live.refresh_popularity() is False  # nothing new since
    first = client.get("/v1/users/newcomer/cards?n=1", headers=STOREFRONT).json["cards"][0]
    assert first["product"]["id"] == "BRD-7"
    other_worker = make_app(url, tiny_encoder).extensions["tailorcard"].live.get()  # starts from the refreshed prior
    assert other_worker.popularity_seq == live.popularity_seq == 4


def test_the_admin_api_syncs_in_batches_idempotently(grocery, tiny_encoder):
    _, _, url = grocery
    client = make_app(url, tiny_encoder).test_client()
    batch = {"products": [{"product_id": "EGG-12", "title": "Free-range eggs, 12", "aisle": "dairy"},
                          {"product_id": "OAT-55", "title": "Jumbo oats, 500 g", "brand": "Morning", "aisle": "cereal"}],
             "delete": ["MLK-010", "NEVER-SOLD"]}
    preview = client.post("/v1/catalogue/batches", json={**batch, "dry_run": True}, headers=ADMIN).json
    assert (preview["added"], preview["changed"], preview["deleted"]) == (["EGG-12"], ["OAT-55"], ["MLK-010"])
    assert preview["not_found"] == ["NEVER-SOLD"]  # nothing to delete there: said, not an error (batches repeat)
    assert client.get("/v1/items/EGG-12", headers=ADMIN).status_code == 404  # a dry run writes nothing
    done = client.post("/v1/catalogue/batches", json=batch, headers=ADMIN).json
    assert (done["adds"], done["changes"], done["deletes"], done["embedded"]) == (1, 1, 1, 2)
    assert client.get("/v1/items/OAT-55", headers=ADMIN).json["title"] == "Jumbo oats, 500 g"
    again = client.post("/v1/catalogue/batches", json=batch, headers=ADMIN).json
    assert (again["adds"], again["changes"], again["deletes"], again["unchanged"]) == (0, 0, 0, 2)
    assert again["not_found"] == ["MLK-010", "NEVER-SOLD"]
    both = client.post("/v1/catalogue/batches", json={"products": batch["products"], "delete": ["OAT-55"]},
                       headers=ADMIN)
    assert both.status_code == 400 and "delete: got ['OAT-55']; expected ids not also among the products" in \
        both.json["message"]
    assert client.get("/v1/items/OAT-55", headers=ADMIN).status_code == 200  # refused whole: nothing changed
    bad = client.post("/v1/catalogue/batches", json={"products": [{"product_id": "a b", "title": ""}]}, headers=ADMIN)
    assert bad.status_code == 400 and "product_id" in bad.json["message"]
    local = client.post("/v1/catalogue/batches", json={"products": [{"product_id": "X1", "title": "x",
                                                                      "image": "/etc/passwd"}]}, headers=ADMIN)
    assert local.status_code == 400 and "http(s) URL" in local.json["message"]


def test_a_catalogue_of_only_product_id_title_and_image_serves_takes_events_and_syncs(tmp_path, tiny_encoder):
    folder = write_grocery_catalogue(tmp_path / "plain")
    (folder / "catalogue.csv").write_text("product_id,title,image\nAPL-001,Gala apples,images/apples.png\n"
                                          "BAN-002,Bananas,images/bananas.jpg\n")
    url = f"sqlite:///{tmp_path / 'plain.sqlite'}"
    engine = make_engine(url)
    create_or_upgrade(engine)
    assert seed(engine, load_catalogue(folder), tiny_encoder, segments=2).users == 0
    client = make_app(url, tiny_encoder).test_client()
    event = {"event_id": "p1", "user_id": "plain-shopper", "item_id": "BAN-002", "type": "click", "timestamp": time.time()}
    assert client.post("/v1/events", json=event, headers=STOREFRONT).status_code == 202
    assert {c["product"]["id"] for c in client.get("/v1/users/plain-shopper/cards?n=5", headers=STOREFRONT).json["cards"]} \
        == {"APL-001", "BAN-002"}
    (folder / "catalogue.csv").write_text("product_id,title,image\nAPL-001,Gala apples,images/apples.png\n"
                                          "MLK-010,Whole milk,images/milk.png\n")
    catalogue = load_catalogue(folder)
    with engine.connect() as connection:
        plan = plan_sync(catalogue, stored_state(connection))
    apply_sync(engine, catalogue, tiny_encoder, plan)
    assert {c["product"]["id"] for c in client.get("/v1/users/plain-shopper/cards?n=5", headers=STOREFRONT).json["cards"]} \
        == {"APL-001", "MLK-010"}
    assert client.get("/v1/users", headers=STOREFRONT).json["users"] == [
        {"user_id": "plain-shopper", "events": 1, "simulated": False}]
