"""The whole HTTP API, fuzzed from its own OpenAPI document (schemathesis drives the Flask app in-process),
and the rule that whatever the API accepts it can serve back.

Every documented operation gets cases generated from the document, valid and invalid. Each is sent
- without a key: an operation that needs one answers 401 (never runs, never a 5xx);
- with a key of the operation's role: no 5xx, a documented status, a body that matches the response
  schema (errors are {error, message}), and input the document calls invalid is refused;
- and a 2xx write is read back at once: the shoppers of accepted events get cards, a product put is
  read back with its photo, a created experiment is read back.
Then example-based tests aim hypothesis at what the generic fuzz rarely hits: real product ids, real
photos and hostile ids, timestamps, values and queries.

Bounded and derandomized (MAX_EXAMPLES per operation), so `make test` stays fast and repeatable; a
failure shows the request as a curl command.
"""
from __future__ import annotations

import io
import itertools
import json
import math
import re
from urllib.parse import quote, unquote

import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st
from PIL import Image
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (content_type_conformance, negative_data_rejection,
                                               response_schema_conformance, status_code_conformance)
from service_helpers import auth, make_app

from features.events import EVENT_TYPES, LATEST, MAX_QUERY_LENGTH, MAX_VALUE
from features.ids import ID_PATTERN, MAX_ID_LENGTH, MAX_SESSION_ID_LENGTH
from service import db
from service.auth import ROLES

MAX_EXAMPLES = 25
# No shrinking: it replays a failure hundreds of times (minutes); the first failing case is reported as is.
FUZZ = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None, print_blob=False,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large,
                                      HealthCheck.function_scoped_fixture])  # one app per test, on purpose
STOREFRONT, ADMIN, ANALYST = auth("storefront"), auth("admin"), auth("analyst")
# Keys are sent by the test (with_security_parameters off); a query parameter the document does not name
# is ignored, not refused (cache busters, tracking tags), so generating one proves nothing; too many items
# in a batch are refused with 413, which schemathesis does not count as a refusal by default.
REFUSALS = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]
CONFIG = {"generation": {"with-security-parameters": False, "allow-extra-parameters": False},
          "checks": {"negative_data_rejection": {"expected-statuses": REFUSALS}}}


def content_type_is_well_formed(ctx, response, case) -> None:
    """Each Content-Type parameter once (/metrics said charset twice, which strict clients refuse)."""
    for header in response.headers.get("content-type", []):
        names = [part.split("=")[0].strip().lower() for part in header.split(";")[1:]]
        assert len(names) == len(set(names)), f"{case.operation.label}: Content-Type {header!r} repeats a parameter"


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          content_type_is_well_formed]
# Every operation of the document (a test below keeps this list equal to it): one test each, so a
# failure names its operation and `-k events` fuzzes one.
OPERATIONS = [
    ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"),
    ("GET", "/v1/users"), ("GET", "/v1/users/{user_id}/cards"), ("POST", "/v1/events"),
    ("GET", "/v1/items/{item_id}"), ("PUT", "/v1/items/{item_id}"), ("PATCH", "/v1/items/{item_id}"),
    ("DELETE", "/v1/items/{item_id}"), ("GET", "/v1/items/{item_id}/image"),
    ("GET", "/v1/items/{item_id}/colours"), ("GET", "/v1/items/{item_id}/colours/{name}"),
    ("GET", "/v1/variants/{variant_id}"), ("GET", "/v1/variants/{variant_id}/provenance"),
    ("GET", "/v1/experiments"), ("POST", "/v1/experiments"), ("GET", "/v1/experiments/{name}"),
    ("POST", "/v1/experiments/{name}/start"), ("POST", "/v1/experiments/{name}/stop"),
    ("PUT", "/v1/experiments/{name}/weights"), ("POST", "/v1/experiments/{name}/allocation"),
    ("GET", "/v1/experiments/{name}/results"),
    ("GET", "/v1/experiments/{name}/results.csv"), ("POST", "/v1/exposures"), ("GET", "/experiments/{name}"),
    ("POST", "/v1/catalogue/batches"),
    ("GET", "/v1/presentation/rules"), ("PUT", "/v1/presentation/rules/products/{product_id}"),
    ("DELETE", "/v1/presentation/rules/products/{product_id}"),
    ("PUT", "/v1/presentation/rules/categories/{category}"),
    ("DELETE", "/v1/presentation/rules/categories/{category}"),
    ("GET", "/v1/segments/{segment}/rounds"), ("POST", "/v1/segments/{segment}/rounds"),
]


@pytest.fixture
def fuzz_app(database_url, tiny_encoder):
    # no rate limit: thousands of requests in a few seconds are the point here
    return make_app(database_url, tiny_encoder, RATE_LIMIT_PER_SECOND=1e9, RATE_LIMIT_BURST=10**9)


def load_schema(app):
    return schemathesis.openapi.from_wsgi("/openapi.json", app, config=schemathesis.Config.from_dict(CONFIG))


def test_every_documented_operation_is_fuzzed(fuzz_app):
    documented = {(method.upper(), path) for path, item in load_schema(fuzz_app).raw_schema["paths"].items()
                  for method in item}
    assert documented == set(OPERATIONS)


@pytest.mark.parametrize("method, path", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_keeps_to_the_document(fuzz_app, method, path):
    operation = load_schema(fuzz_app)[path][method]
    key, (_, wrong_roles) = key_for(operation.definition.raw), roles_for(operation.definition.raw)
    client = fuzz_app.test_client()
    positive = operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
    if (method, path) == ("POST", "/v1/events"):  # random product ids are unknown: a 400 that tests little
        positive = st.tuples(positive, st.sampled_from(catalogue_ids(client))).map(naming_a_product)
    cases = st.one_of(positive, operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))

    @FUZZ
    @given(case=cases)
    def sent(case):
        note(case.as_curl_command())  # shown with any failure, the read-back checks' too
        if key:
            refused_without_the_right_key(case, wrong_roles)
        response = case.call_and_validate(headers=key, checks=CHECKS + rejection_check(case))
        if 200 <= response.status_code < 300:
            served_back(client, case, response)

    sent()


def roles_for(definition: dict) -> tuple[list[str], list[str]]:
    """The roles whose keys may call the operation, and those whose keys may not (both empty: no key needed)."""
    scopes = {scope for requirement in definition.get("security", []) for scope in requirement.get("apiKey", [])}
    allowed = [role for role, held in ROLES.items() if scopes & set(held)]
    return allowed, [role for role in ROLES if scopes and role not in allowed]


def key_for(definition: dict) -> dict:
    allowed, _ = roles_for(definition)
    return auth(allowed[0]) if allowed else {}


def rejection_check(case) -> list:
    """Invalid input must be refused. Not judged for multipart: schemathesis rereads the form it sent to
    judge it, and its validator takes no bytes (the photo part), so it would blame every form it sent;
    test_product_forms_are_checked covers those."""
    return [] if (case.media_type or "").startswith("multipart/") else [negative_data_rejection]


def refused_without_the_right_key(case, wrong_roles: list[str]) -> None:
    """No key or an unknown one: 401; a key without the scope: 403; before anything runs. An invalid path
    parameter may match no route: a 404, before any key is asked for."""
    route_missed = {404} if case.meta and case.meta.is_negative_at(ParameterLocation.PATH) else set()
    attempts = [({"Authorization": ""}, 401), ({"Authorization": "Bearer not-a-key"}, 401),
                *((auth(role), 403) for role in wrong_roles[:1])]
    for headers, status in attempts:
        response = case.call(headers=headers)
        assert response.status_code in {status, *route_missed} and set(response.json()) == {"error", "message"}, \
            f"with {headers}: {case.as_curl_command()}\n-> {response.status_code} {response.text[:300]}"


def served_back(client, case, response) -> None:
    """Accepted implies servable: what a 2xx write stored can be read back at once."""
    operation = (case.method.upper(), case.operation.path)
    if operation == ("POST", "/v1/events"):
        for user in event_users(case.body):
            assert_cards(client, user)
    elif operation == ("POST", "/v1/exposures"):
        for row in case.body["exposures"]:
            assert_cards(client, as_sent(row["user_id"]))
    elif operation in (("PUT", "/v1/items/{item_id}"), ("PATCH", "/v1/items/{item_id}")):
        # schemathesis keeps the path parameter as it put it in the URL; an id has nothing to escape but ":" "@"
        assert_product(client, unquote(case.path_parameters["item_id"]), response.json())
    elif operation == ("POST", "/v1/experiments"):
        assert_experiment(client, case.body["name"])
    elif operation[0] == "PUT" and operation[1].startswith("/v1/presentation/rules/"):
        assert_rule(client, response.json())


def batch_of(body) -> list[dict]:
    """The events of a POST /v1/events body: one event, a list of them, or {"events": [...]}."""
    batch = body.get("events", body) if isinstance(body, dict) and "events" in body else body
    return [batch] if isinstance(batch, dict) else batch


def naming_a_product(case_and_item):
    """A valid generated batch whose events (those naming a product) name a catalogue product."""
    case, item = case_and_item
    for event in batch_of(case.body):
        if event.get("item_id") not in (None, ""):
            event["item_id"] = item
    return case


def event_users(body) -> list[str]:
    """The shopper of each event: its user_id as sent, else the anonymous `session:<session_id>`."""
    return [as_sent(event["user_id"]) if event.get("user_id") not in (None, "") else
            f"session:{as_sent(event.get('session_id'))}" for event in batch_of(body)]


def as_sent(value) -> str:
    """An id as a client would ask for it again: text as it is, a whole number (1e16 too) as its digits."""
    return str(int(value)) if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def follows_id_rule(text, max_length: int = MAX_ID_LENGTH) -> bool:
    """features.ids' rule, checked here on its own (fullmatch: a "$" alone lets a trailing newline through)."""
    return isinstance(text, str) and len(text) <= max_length and re.fullmatch(ID_PATTERN, text) is not None


def assert_cards(client, user: str) -> None:
    """An accepted shopper id follows the id rule, as sent, and its cards are served."""
    assert follows_id_rule(user), f"accepted shopper {user!r}, which is not an id"
    response = client.get(f"/v1/users/{quote(user, safe='')}/cards?n=3", headers=STOREFRONT)
    assert response.status_code == 200, f"accepted shopper {user!r}, but their cards: {response.status_code} " \
                                        f"{response.get_data(as_text=True)[:300]}"


def assert_product(client, item_id, saved: dict) -> None:
    """Read back as saved; its photo served, or a 404 for a text-only product."""
    path = f"/v1/items/{quote(str(item_id), safe='')}"
    read = client.get(path, headers=ADMIN)
    assert read.status_code == 200 and read.json == saved, f"product {item_id!r} saved as {saved}, read {read.json}"
    photo = client.get(f"{path}/image")
    served = photo.status_code == 200 and photo.mimetype.startswith("image/")
    assert served == saved["has_photo"], f"product {item_id!r}, has_photo {saved['has_photo']}: {photo.status_code}"


def assert_experiment(client, name) -> None:
    """A created experiment reads back under the name it was created with."""
    response = client.get(f"/v1/experiments/{quote(str(name), safe='')}", headers=ANALYST)
    assert response.status_code == 200 and response.json["name"] == name, \
        f"created experiment {name!r}, but reading it: {response.status_code} {response.get_data(as_text=True)[:300]}"


def assert_rule(client, saved: dict) -> None:
    """A rule put is listed as saved."""
    listed = client.get("/v1/presentation/rules", headers=ADMIN).json["rules"]
    assert saved in listed, f"rule {saved} saved, but the rules listed are {listed}"


# ---- aimed examples ---------------------------------------------------------------------------

AIMED = settings(FUZZ, max_examples=40)
HOSTILE_IDS = ["😀", "../../etc/passwd", "a" * 200, "a\x00b", "<script>alert(1)</script>", "\u202eexe.txt",
               " u1", "u1\n", "", "a" * 129, "u/1", "%2e%2e", "0", "session:" + "s" * 121, True, 1.5, -3, None]
# Each value in an otherwise valid event: refused, or valid by the document (and then stored in bounds,
# its shopper served). The bugs of the issue are among them (NaN and Infinity go as Python writes them).
HOSTILE_VALUES = {
    "event_id": [*HOSTILE_IDS, "e" * 10_000], "user_id": HOSTILE_IDS, "item_id": HOSTILE_IDS,
    "session_id": [*HOSTILE_IDS, "s" * (MAX_SESSION_ID_LENGTH + 1)],
    "type": ["CLICK", " click ", "clicks", "", 5, None],
    "timestamp": [LATEST, -1, 1e308, -1e12, math.inf, math.nan, "9999-12-31T00:00:00Z", "1969-12-31T23:59:59Z",
                  "2024-05", "1700000000", "yesterday", "", None, True],
    "value": [MAX_VALUE + 1, -MAX_VALUE - 1, math.nan, -math.inf, 1e308, "12.5", "", "NaN", "inf", True, [1], None],
    "query": ["x" * (MAX_QUERY_LENGTH + 1), "x" * 10**6, 5, ["shoe"], {"q": 1}, True, None],
}
GOOD_IDS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,20}", fullmatch=True) | st.just("a" * 128)
ANY_IDS = st.text(max_size=12) | st.integers(-5, 10**20) | st.floats(-2.0, 1e20)
RANDOM = {"event_id": ANY_IDS, "user_id": ANY_IDS, "item_id": ANY_IDS, "session_id": ANY_IDS,
          "type": st.text(max_size=6), "query": st.text(max_size=20), "value": st.floats() | st.integers(),
          "timestamp": st.floats() | st.integers() | st.datetimes().map(lambda t: t.isoformat()) | st.text(max_size=8)}
HOSTILE = {field: st.sampled_from(values) | RANDOM[field] for field, values in HOSTILE_VALUES.items()}
DROP = object()
SERIAL = itertools.count()  # event ids the store has not seen (hypothesis repeats simple values)


@st.composite
def events(draw, product_ids: list[str], hostile: str | None = None) -> dict:
    """A valid event (a fresh event_id), with the field `hostile` drawn from HOSTILE (or dropped)."""
    event = {"event_id": f"e{next(SERIAL)}", "user_id": draw(GOOD_IDS),
             "item_id": draw(st.sampled_from(product_ids)), "type": draw(st.sampled_from(EVENT_TYPES)),
             "timestamp": draw(st.floats(0, LATEST, exclude_max=True) | st.just("2099-12-31T23:59:59Z")),
             "session_id": draw(GOOD_IDS.filter(lambda text: len(text) <= MAX_SESSION_ID_LENGTH)),
             "query": draw(st.text(max_size=MAX_QUERY_LENGTH)), "value": draw(st.floats(-MAX_VALUE, MAX_VALUE))}
    if hostile:
        event[hostile] = draw(HOSTILE[hostile] | st.just(DROP))
    return {name: value for name, value in event.items() if value is not DROP}


def catalogue_ids(client) -> list[str]:
    return [card["product"]["id"] for card in client.get("/v1/users/u1/cards?n=40", headers=STOREFRONT).json["cards"]]


def aimed(app, method: str, path: str):
    """Send hand-made cases to one operation, checked as the fuzz checks generated ones (no 5xx, documented
    status, body matching the document), with the operation's key."""
    operation = load_schema(app)[path][method]
    key = key_for(operation.definition.raw)
    return lambda **case: operation.Case(**case).call_and_validate(headers=key, checks=CHECKS)


class EventsSender:
    """POST /v1/events as a client would (by hand: schemathesis' transport refuses NaN and Infinity); the
    reply is checked as the fuzz checks one, and a batch taken (202) must be valid by the document, stored
    within the bounds, and each of its shoppers served."""

    def __init__(self, app):
        self.client, self.engine = app.test_client(), app.extensions["tailorcard"].db
        self.operation = load_schema(app)["/v1/events"]["POST"]
        self.documented = self.operation.get_body_for_media_type("application/json")

    def send(self, batch: list[dict]) -> None:
        body = json.dumps(batch)
        with self.engine.connect() as connection:
            before = connection.execute(sa.select(sa.func.max(db.events.c.seq))).scalar()
        response = self.client.post("/v1/events", data=body, content_type="application/json", headers=STOREFRONT)
        self.operation.Case(body=batch, media_type="application/json").validate_response(response, checks=CHECKS)
        if response.status_code != 202:
            return
        valid = self.documented.is_valid(batch)
        assert valid, "accepted a batch that the document calls invalid"
        for user in event_users(batch):
            assert_cards(self.client, user)
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(db.events).where(db.events.c.seq > before)).mappings().all()
        assert len(rows) == response.json["accepted"]
        for row in rows:
            assert_in_bounds(row)


def test_every_hostile_event_value_is_refused_or_kept_to_the_rules(fuzz_app):
    """HOSTILE_VALUES one by one, all reported at once."""
    sender, item = EventsSender(fuzz_app), catalogue_ids(fuzz_app.test_client())[0]
    failures = []
    for field, values in HOSTILE_VALUES.items():
        for value in values:
            event = {"event_id": f"e{next(SERIAL)}", "user_id": "u-hostile", "item_id": item, "type": "view",
                     "timestamp": 1.7e9, "session_id": "s1", "query": "", "value": 1.0, field: value}
            try:
                sender.send([event])
            except AssertionError as failure:
                failures.append(f"{field}={value!r:.60}: {str(failure).splitlines()[0]:.200}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("field", sorted(HOSTILE))
def test_accepted_events_are_servable_and_within_bounds(fuzz_app, field):
    """Batches with one hostile `field`, generated (as EventsSender checks them)."""
    sender = EventsSender(fuzz_app)
    known = catalogue_ids(sender.client)

    @settings(AIMED, max_examples=15)
    @given(batch=st.tuples(events(known, hostile=field)) | st.tuples(events(known), events(known, hostile=field)))
    def sent(batch):
        note(f"POST /v1/events {json.dumps(batch):.2000}")
        sender.send(list(batch))

    sent()


def assert_in_bounds(row) -> None:
    """A stored event keeps to features.events' bounds (checked here on their own)."""
    problems = [name for name, fine in [
        ("event_id", follows_id_rule(row["event_id"])), ("user_id", follows_id_rule(row["user_id"])),
        ("session_id", row["session_id"] == "" or follows_id_rule(row["session_id"], MAX_SESSION_ID_LENGTH)),
        ("timestamp", 0 <= row["timestamp"] < LATEST), ("query", len(row["query"]) <= MAX_QUERY_LENGTH),
        ("value", row["value"] is None or (math.isfinite(row["value"]) and abs(row["value"]) <= MAX_VALUE))]
        if not fine]
    assert not problems, f"stored out of bounds ({problems}): {dict(row)!r:.400}"


# The ids of the issue, and their neighbours: events and exposures take one only if it is an id (text ids
# exactly then), and its cards are served exactly then (whole numbers are read as their digits).
SHOPPER_IDS = ["😀", "../../etc/passwd", "u" * 200, "a\x00b", "<script>alert(1)</script>", "\u202eexe.txt", " u1",
               "u1 ", "u1\n", "\tu1", "u" * 128, "u" * 129, "u/1", "-u1", "u:1@shop.example", "session:s1", 42, -3]


@pytest.mark.parametrize("user", SHOPPER_IDS, ids=ascii)
def test_a_shopper_id_is_taken_only_if_its_cards_can_be_served(fuzz_app, user):
    client, is_id = fuzz_app.test_client(), follows_id_rule(as_sent(user))
    item = catalogue_ids(client)[0]
    event = {"event_id": f"e{next(SERIAL)}", "user_id": user, "item_id": item, "type": "view", "timestamp": 1.7e9}
    exposure = {"user_id": user, "item_id": item, "position": 1}
    taken = {"events": client.post("/v1/events", json=event, headers=STOREFRONT).status_code == 202,
             "exposures": client.post("/v1/exposures", json={"exposures": [exposure]},
                                      headers=STOREFRONT).status_code == 202}
    cards = client.get(f"/v1/users/{quote(as_sent(user), safe='')}/cards", headers=STOREFRONT)
    said = f"{user!r}: taken {taken}, cards {cards.status_code}; an id by the rule: {is_id}"
    if isinstance(user, str):
        assert taken == {"events": is_id, "exposures": is_id}, said
    else:  # a whole number: an endpoint may want text, but one that takes it must read it as an id
        assert is_id or not any(taken.values()), said
    assert (cards.status_code == 200) == is_id, said


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


FORM_TEXT = st.text(max_size=12) | st.sampled_from(["", "   ", "x" * 300, "x" * 301, "<b>", "a\x00b"])


def test_a_product_put_is_read_back_with_its_photo(fuzz_app):
    """A product taken (200) under any id, with any text, reads back as saved, photo included."""
    client, put = fuzz_app.test_client(), aimed(fuzz_app, "PUT", "/v1/items/{item_id}")

    @AIMED
    @given(item_id=st.integers(0, 2**63) | st.sampled_from([i for i in HOSTILE_IDS if isinstance(i, str)])
           | st.text(max_size=6),
           title=FORM_TEXT, colour=FORM_TEXT, in_stock=st.sampled_from(["true", "no", "1", "maybe", ""]))
    def sent(item_id, title, colour, in_stock):
        form = {"title": title, "baseColour": colour, "in_stock": in_stock, "image": png()}
        response = put(path_parameters={"item_id": item_id}, body=form, media_type="multipart/form-data")
        if response.status_code == 200:
            assert_product(client, item_id, response.json())

    sent()


@pytest.mark.parametrize("form, field", [
    ({"title": "x" * 301}, "title"), ({"title": "  "}, "title"), ({"title": "ok", "description": "d" * 5001},
                                                                   "description"),
    ({"title": "ok", "in_stock": "maybe"}, "in_stock"), ({"title": "ok", "usage": "u" * 301}, "usage"),
    ({"title": "ok", "id": "x"}, "field name"), ({"title": "ok", "1colour": "red"}, "field name"),
    ({"title": "ok", **{f"a{i}": "x" for i in range(51)}}, "attributes")])
def test_product_forms_are_checked(fuzz_app, form, field):
    """What rejection_check leaves out for forms: each invalid field is refused, naming it."""
    response = aimed(fuzz_app, "PUT", "/v1/items/{item_id}")(
        path_parameters={"item_id": 7}, body={**form, "image": png()}, media_type="multipart/form-data")
    assert response.status_code == 400 and field in response.json()["message"]


@pytest.mark.parametrize("image", [b"", b"not an image", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, png()[:40]])
def test_a_photo_that_is_not_an_image_is_a_400(fuzz_app, image):
    response = aimed(fuzz_app, "PUT", "/v1/items/{item_id}")(
        path_parameters={"item_id": 7}, body={"title": "ok", "image": image}, media_type="multipart/form-data")
    assert response.status_code == 400 and response.json()["error"] == "invalid_image"


def test_a_created_experiment_is_read_back(fuzz_app):
    """An experiment created (201) under any name reads back under that name."""
    client, create = fuzz_app.test_client(), aimed(fuzz_app, "POST", "/v1/experiments")
    arms = [{"name": "control", "weight": 1}, {"name": "variant", "weight": 1}]

    @AIMED
    @given(name=st.sampled_from(HOSTILE_IDS) | st.text(max_size=10) | GOOD_IDS)
    def sent(name):
        response = create(body={"name": name, "arms": arms}, media_type="application/json")
        if response.status_code == 201:
            assert_experiment(client, name)

    sent()
