"""Experiment and arm names follow the one id rule (features.ids) end to end: the model, the API, the OpenAPI
document and the tables (PostgreSQL enforces column widths; SQLite does not). And an arm image policy that
cannot yet differ from another ("variant_params") is refused at creation."""
from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from features.ids import ID_PATTERN, MAX_ID_LENGTH
from service import experiments_db
from service.db import make_engine
from service.experiments_openapi import ARM, EXPERIMENT_PATHS
from test_experiments_api import ANALYST, DEFINITION, SHOP, make_app
from test_experiments_api import app, client, database  # noqa: F401 (fixtures)

POSTGRES_URL = os.environ.get("TAILORCARD_TEST_POSTGRES_URL")
LONG_NAME = "exp:2025@q3." + "x" * (MAX_ID_LENGTH - 12)  # 128 characters, ':' and '@' included
LONG_ARM = "arm-" + "a" * (MAX_ID_LENGTH - 4)


def definition(name: str, arms=None) -> dict:
    return {**DEFINITION, "name": name, "arms": arms or DEFINITION["arms"]}


def listed(client) -> list[str]:
    return [e["name"] for e in client.get("/v1/experiments", headers=ANALYST).get_json()["experiments"]]


def round_trip(client, name: str, arm: str) -> None:
    """Create, read, start, serve cards in it and read the results: every table holds the long names."""
    arms = [{"name": arm, "weight": 1, "image_policy": "original"}, {"name": "variant", "weight": 1}]
    created = client.post("/v1/experiments", json=definition(name, arms), headers=ANALYST)
    assert created.status_code == 201, created.get_json()
    assert client.get(f"/v1/experiments/{name}", headers=ANALYST).get_json()["arms"][0]["name"] == arm
    assert client.post(f"/v1/experiments/{name}/start", headers=ANALYST).status_code == 200
    rows = [{"user_id": f"shopper-{i}", "item_id": 1, "position": 1} for i in range(40)]
    shown = client.post("/v1/exposures", json={"exposures": rows}, headers=SHOP)
    assert shown.status_code == 202, shown.get_json()
    results = client.get(f"/v1/experiments/{name}/results", headers=ANALYST).get_json()
    assert results["experiment"] == name and {a["arm"] for a in results["arms"]} == {arm, "variant"}
    assert sum(a["exposures"] for a in results["arms"]) == 40


@pytest.mark.parametrize("name", ["e" * 65, LONG_NAME])
def test_names_longer_than_64_characters_round_trip(client, name):
    round_trip(client, name, LONG_ARM)


@pytest.mark.parametrize("name", ["a/b", "..", "photos-\N{ROCKET}", "nul\x00name", "x" * (MAX_ID_LENGTH + 1),
                                  "", " padded", 42])
def test_names_outside_the_id_rule_are_refused_and_nothing_is_stored(client, name):
    response = client.post("/v1/experiments", json=definition(name), headers=ANALYST)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_experiment"
    assert response.get_json()["message"].startswith("name must be an id (1-128 characters")
    assert listed(client) == []


@pytest.mark.parametrize("field, value", [("slot", "cards/top"), ("layer", "a b"), ("salt", "x" * 129)])
def test_slot_layer_and_salt_follow_the_rule_too(client, field, value):
    response = client.post("/v1/experiments", json={**DEFINITION, field: value}, headers=ANALYST)
    assert response.status_code == 400 and response.get_json()["message"].startswith(field)


def test_arm_names_follow_the_rule(client):
    arms = [{"name": "photo", "weight": 1}, {"name": "with space", "weight": 1}]
    response = client.post("/v1/experiments", json=definition("arms", arms), headers=ANALYST)
    assert response.status_code == 400 and "arms[1].name must be an id" in response.get_json()["message"]


@pytest.mark.parametrize("arm", [{"name": "params", "weight": 1, "image_policy": "variant_params",
                                  "generator_params": {"strength": 0.3}},
                                 {"name": "params", "weight": 1, "image_policy": "variant_params"}])
def test_the_old_variant_params_policy_is_refused_pointing_at_presentation(client, arm):
    response = client.post("/v1/experiments", json=definition("params-test", [DEFINITION["arms"][0], arm]),
                           headers=ANALYST)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_experiment"
    message = response.get_json()["message"]
    assert "arms[1]" in message and "presentation" in message
    assert listed(client) == []


def test_an_image_policy_of_the_wrong_kind_is_a_clear_400(client):
    arm = {"name": "listed", "weight": 1, "image_policy": ["variant"]}
    response = client.post("/v1/experiments", json=definition("kinds", [DEFINITION["arms"][0], arm]), headers=ANALYST)
    assert response.status_code == 400 and "arms[1].image_policy must be one of" in response.get_json()["message"]


def test_generator_params_are_gone_and_refused_naming_presentation(client):
    arm = {"name": "tuned", "weight": 1, "image_policy": "variant", "generator_params": {"strength": 0.3}}
    response = client.post("/v1/experiments", json=definition("params-test", [DEFINITION["arms"][0], arm]),
                           headers=ANALYST)
    assert response.status_code == 400 and "generator_params" in response.get_json()["message"]
    assert listed(client) == []


def test_the_openapi_document_offers_only_what_is_accepted():
    assert ARM["properties"]["image_policy"]["enum"] == ["original", "variant"]
    assert "presentation" in ARM["properties"]["image_policy"]["description"]
    assert ARM["properties"]["generator_params"]["maxProperties"] == 0  # only old definitions' empty object
    assert ARM["properties"]["presentation"]["properties"]["kind"]["enum"] == ["original", "upscaled", "scene"]
    name = EXPERIMENT_PATHS["/v1/experiments/{name}"]["get"]["parameters"][0]["schema"]
    assert name["pattern"] == ID_PATTERN and name["maxLength"] == MAX_ID_LENGTH


@pytest.fixture
def postgres_schema():
    """A schema of its own in the test database (other tests there drop and re-create `public`)."""
    if not POSTGRES_URL:
        pytest.skip("TAILORCARD_TEST_POSTGRES_URL is not set (e.g. postgresql://postgres@127.0.0.1:5432/test)")
    schema = f"tc_experiment_names_{os.getpid()}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"))
    yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    with admin.begin() as connection:
        connection.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def test_postgres_widens_old_64_character_columns_and_holds_128_character_names(postgres_schema):
    app = make_app(postgres_schema)
    engine = app.extensions["tailorcard"].db
    with engine.begin() as connection:  # the tables as an older version made them
        for table, column in [("experiments", "name"), ("experiment_assignments", "experiment"),
                              ("experiment_assignments", "arm"), ("experiment_exposures", "experiment"),
                              ("experiment_exposures", "arm"), ("experiment_exposures", "slot")]:
            connection.execute(sa.text(f'ALTER TABLE {table} ALTER COLUMN "{column}" TYPE VARCHAR(64)'))
    round_trip(app.test_client(), LONG_NAME, LONG_ARM)
    [name] = [column for column in sa.inspect(engine).get_columns("experiments") if column["name"] == "name"]
    assert name["type"].length == MAX_ID_LENGTH
    experiments_db.ensure_tables(engine)  # once widened, again is a no-op
    engine.dispose()
