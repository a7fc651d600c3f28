"""Experiments: analysts create, start, stop, reweight, switch allocation and read results (scope `experiments`);
storefronts that render cards themselves report what they showed (`POST /v1/exposures`, scope `cards`).

The results page (`/experiments/<name>`) is a shell with no data in it: its script asks the API
with the analyst key the analyst types (or passes in the URL fragment, which never leaves the browser).
"""
from __future__ import annotations

import io
import math

from flask import Blueprint, Response, jsonify, render_template, request

from features.ids import ID_RULE, echo, is_id
from recsys.experiments import ExperimentError, results_table
from recsys.experiments.model import ALLOCATIONS
from service.api.params import bad_request, json_body, product_id, user_id
from service.auth import require_scope
from service.deps import deps
from service.errors import ApiError, error_response
from service.experiments_openapi import EXPERIMENT_PATHS as OPENAPI_PATHS  # noqa: F401 (merged into /openapi.json)
from service.experiments_store import ExperimentExists, ExperimentNotFound, public

bp = Blueprint("experiments", __name__)
MAX_EXPOSURES = 10_000  # rows per POST /v1/exposures
IMAGES = ("original", "variant")


def experiments():
    return deps().experiments


@bp.errorhandler(ExperimentError)
def experiment_error(exc: ExperimentError):
    status, code = ((404, "not_found") if isinstance(exc, ExperimentNotFound) else
                    (409, "conflict") if isinstance(exc, ExperimentExists) else (400, "invalid_experiment"))
    return error_response(status, code, str(exc))


@bp.get("/v1/experiments")
@require_scope("experiments")
def list_experiments():
    return jsonify(experiments=experiments().list())


@bp.post("/v1/experiments")
@require_scope("experiments")
def create():
    body = json_body()
    if not isinstance(body, dict):
        raise bad_request("body", type(body).__name__, "an experiment object (name, arms, ...)")
    return jsonify(public(experiments().create(body))), 201


@bp.get("/v1/experiments/<name>")
@require_scope("experiments")
def show(name: str):
    return jsonify(public(experiments().get(name)))


# Two plain URLs (so /openapi.json names each) served by one view.
@bp.post("/v1/experiments/<name>/start", defaults={"action": "start"})
@bp.post("/v1/experiments/<name>/stop", defaults={"action": "stop"})
@require_scope("experiments")
def start_or_stop(name: str, action: str):
    return jsonify(public(getattr(experiments(), action)(name)))


@bp.put("/v1/experiments/<name>/weights")
@require_scope("experiments")
def reweight(name: str):
    body = json_body()
    if not isinstance(body, dict) or set(body) != {"weights"}:
        raise bad_request("body", body, 'an object {"weights": {arm name: weight, ...}} naming every arm once')
    return jsonify(public(experiments().reweight(name, body["weights"])))


@bp.post("/v1/experiments/<name>/allocation")
@require_scope("experiments")
def allocate(name: str):
    """{"allocation": "fixed" | "bandit", "bandit": {BanditConfig fields}?}: switch (the time is recorded)."""
    body = json_body()
    if not isinstance(body, dict):
        raise bad_request("body", type(body).__name__, 'an object {"allocation": "fixed" | "bandit", "bandit": {...}}')
    unknown = sorted(set(body) - {"allocation", "bandit"})
    if unknown:
        raise bad_request(f"field(s) {unknown}", "unknown", "allocation, bandit")
    if body.get("allocation") not in ALLOCATIONS:
        raise bad_request("allocation", body.get("allocation"), f"one of {list(ALLOCATIONS)}")
    if "bandit" in body and not isinstance(body["bandit"], dict):
        raise bad_request("bandit", body["bandit"], "an object of bandit settings (control_share, min_share, ...)")
    return jsonify(public(experiments().allocate(name, body["allocation"], body.get("bandit"))))


@bp.get("/v1/experiments/<name>/results")
@require_scope("experiments")
def results(name: str):
    detail = request.args.get("detail", "full")
    if detail not in ("full", "summary"):
        raise bad_request("detail", detail, "'full' (breakdowns and the cumulative curve) or 'summary'")
    return jsonify(experiments().results(name, detailed=detail == "full"))


@bp.get("/v1/experiments/<name>/results.csv")
@require_scope("experiments")
def results_csv(name: str):
    text = io.StringIO()
    results_table(experiments().results(name)).to_csv(text, index=False)
    return Response(text.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}-results.csv"'})


@bp.post("/v1/exposures")
@require_scope("cards")
def record_exposures():
    """Cards a storefront showed from its own cache: {"exposures": [{user_id, item_id, position, ...}]}.
    Each user is assigned (sticky) and the cards are logged; the reply says each user's arms."""
    shown = [_exposure(row, number) for number, row in enumerate(_exposure_rows(json_body()))]
    assigned = experiments().record_exposures(shown)
    return jsonify(accepted=len(shown), assigned={user: [{"experiment": a["experiment"], "arm": a["arm"]}
                                                         for a in arms] for user, arms in assigned.items()}), 202


@bp.get("/experiments/<name>")
def page(name: str):
    if not is_id(name):  # the page asks the API for this name: one that can never exist is a 404 now
        raise ApiError(404, "not_found", f"no experiment {echo(name)}; names are {ID_RULE}")
    return render_template("experiment_results.html", name=name)


def _exposure_rows(body) -> list:
    rows = body.get("exposures") if isinstance(body, dict) else body
    if not isinstance(rows, list) or not rows:
        raise ApiError(400, "bad_request", 'expected {"exposures": [...]} with at least one exposure')
    if len(rows) > MAX_EXPOSURES:
        raise ApiError(413, "too_many_exposures", f"{len(rows)} exposures in one request; the limit is {MAX_EXPOSURES}")
    return rows


def _exposure(row, number: int) -> dict:
    where = f"exposures[{number}]"
    if not isinstance(row, dict):
        raise bad_request(where, type(row).__name__, "an object")
    unknown = sorted(set(row) - {"user_id", "item_id", "position", "image", "timestamp", "segment"})
    if unknown:
        raise bad_request(f"{where} field(s) {unknown}", "unknown", "user_id, item_id, position, image, timestamp, segment")
    return {"user_id": user_id(row.get("user_id"), f"{where}.user_id"),
            "item_id": product_id(row.get("item_id"), f"{where}.item_id"),
            "position": _integer(row.get("position"), f"{where}.position", 1, 10_000),
            "image": _choice(row.get("image", "original"), f"{where}.image", IMAGES),
            "timestamp": _timestamp(row.get("timestamp", deps().clock.time()), f"{where}.timestamp"),
            "segment": None if row.get("segment") is None else _integer(row["segment"], f"{where}.segment", 0, 10_000)}


def _integer(value, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise bad_request(field, value, f"an integer in {low}..{high}")
    return value


def _choice(value, field: str, choices) -> str:
    if value not in choices:
        raise bad_request(field, value, f"one of {list(choices)}")
    return value


def _timestamp(value, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise bad_request(field, value, "epoch seconds (a non-negative number)")
    return float(value)
