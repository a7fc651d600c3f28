"""Errors, auth scopes, rate limit, size limits, health, metrics and the OpenAPI document."""
from __future__ import annotations

import pytest
from service_helpers import auth, make_app

from service.auth import find_key, load_keys


def test_unknown_url_and_method_are_json(client):
    missing = client.get("/v1/nothing-here")
    assert missing.status_code == 404 and missing.json["error"] == "not_found"
    wrong_method = client.delete("/healthz")
    assert wrong_method.status_code == 405 and set(wrong_method.json) == {"error", "message"}
    assert "GET" in wrong_method.headers["Allow"]


def test_a_500_is_logged_and_reveals_nothing(database_url, tiny_encoder, caplog):
    app = make_app(database_url, tiny_encoder)
    app.add_url_rule("/boom", "boom", lambda: 1 / 0)
    response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert response.json["error"] == "internal_error" and "ZeroDivision" not in response.get_data(as_text=True)
    assert "ZeroDivisionError" in caplog.text


@pytest.mark.parametrize("method, path, role, status", [
    ("get", "/v1/users/u1/cards", None, 401),
    ("get", "/v1/users/u1/cards", "admin", 403),
    ("get", "/v1/users/u1/cards", "storefront", 200),
    ("post", "/v1/events", "analyst", 403),
    ("put", "/v1/items/1", "storefront", 403),
    ("delete", "/v1/items/1", "analyst", 403),
    ("get", "/v1/experiments", "storefront", 403),
    ("get", "/v1/experiments", "analyst", 200),
])
def test_scopes(client, method, path, role, status):
    response = getattr(client, method)(path, headers=auth(role) if role else {})
    assert response.status_code == status, response.json
    if status >= 400:
        assert set(response.json) == {"error", "message"}


def test_unknown_key_is_refused(client):
    response = client.get("/v1/users/u1/cards", headers={"Authorization": "Bearer sk-storefront-tesX"})
    assert response.status_code == 401 and response.json["message"] == "unknown API key"


def test_key_lookup_compares_digests_of_every_key():
    keys = load_keys([{"name": "a", "key": "k1", "scopes": ["cards"]}, {"name": "b", "key": "k2", "scopes": ["items"]}])
    assert find_key(keys, "k2").name == "b"
    assert find_key(keys, "k") is None and find_key(keys, "k22") is None


def test_rate_limit_per_key(database_url, tiny_encoder):
    client = make_app(database_url, tiny_encoder, RATE_LIMIT_PER_SECOND=0.001, RATE_LIMIT_BURST=2).test_client()
    statuses = [client.get("/v1/experiments", headers=auth("analyst")).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    limited = client.get("/v1/experiments", headers=auth("analyst"))
    assert limited.json["error"] == "rate_limited" and int(limited.headers["Retry-After"]) >= 1
    assert client.get("/v1/users/u1/cards", headers=auth("storefront")).status_code == 200  # another key's bucket


def test_request_size_limit(database_url, tiny_encoder):
    client = make_app(database_url, tiny_encoder, MAX_CONTENT_LENGTH=1000).test_client()
    response = client.post("/v1/events", data=b"[" + b" " * 2000 + b"]", headers=auth("storefront"),
                           content_type="application/json")
    assert response.status_code == 413 and response.json["error"] == "request_entity_too_large"


def test_health_readiness_and_metrics(client):
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").json == {"status": "ready", "products": 40, "skipped_events": 0}
    client.get("/v1/users/u1/cards", headers=auth("storefront"))
    client.get("/v1/users/u1/cards", headers=auth("storefront"))
    text = client.get("/metrics").get_data(as_text=True)
    assert 'tailorcard_card_cache_total{result="hit"} 1.0' in text
    assert 'tailorcard_card_cache_total{result="miss"} 1.0' in text
    assert "tailorcard_jobs_queued" in text and "tailorcard_request_seconds_bucket" in text
    assert "tailorcard_generation_seconds" in text


def test_openapi_names_every_api_route(app, client):
    spec = client.get("/openapi.json").json
    assert spec["openapi"].startswith("3.")
    served = {rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}") for rule in app.url_map.iter_rules()
              if rule.rule.startswith("/v1/") or rule.rule in ("/healthz", "/readyz", "/metrics")}
    assert served - set(spec["paths"]) == set()
    page = client.get("/docs").get_data(as_text=True)
    assert "/v1/users/{user_id}/cards" in page


def test_openapi_states_the_configured_limits(database_url, tiny_encoder):
    app = make_app(database_url, tiny_encoder, MAX_EVENTS_PER_REQUEST=7, MAX_CARDS=9)
    spec = app.test_client().get("/openapi.json").json
    batch = spec["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    assert batch[1]["maxItems"] == 7 and batch[2]["properties"]["events"]["maxItems"] == 7
    n = next(p for p in spec["paths"]["/v1/users/{user_id}/cards"]["get"]["parameters"] if p["name"] == "n")
    assert n["schema"]["maximum"] == 9


def test_storefront_page_carries_the_storefront_key(client):
    page = client.get("/").get_data(as_text=True)
    assert 'data-key="sk-storefront-test"' in page and "AI-generated" in page


def test_init_db_command(runner):
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0 and "database ready" in result.output
