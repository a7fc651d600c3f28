"""Every error leaves as JSON {"error": code, "message": text} with the right status.

Domain errors (features/recsys/imagegen, and the use cases' NotFound) map to 4xx by type; anything unexpected
is a 500 that is logged with its traceback and tells the client nothing about the inside.

A 413 that werkzeug raises (body over MAX_CONTENT_LENGTH, a form field or part over its limit) leaves
the rest of the body unread on the socket, so the server closes the connection after it: the reply says
`Connection: close`, so the client opens a new one rather than sending its next request into a closed
socket (under gunicorn, service.gunicorn_config makes it honour the header). The app's own 413s
(too_many_events, too_many_exposures) come after the whole body was read: the connection stays usable.
"""
from __future__ import annotations

from flask import jsonify
from werkzeug.exceptions import HTTPException

from features.errors import CatalogueError, ImageError, TailorcardError
from features.events import EventError
from features.preferences import PreferenceError
from imagegen.errors import PresentationError
from recsys.recommender import RecommenderError
from service.repository import KeyCollision
from service.scene_rounds import NothingToFit, RoundExists, TooFewArms
from service.variants import VariantNotFound


class ApiError(Exception):
    """An error the API means to return: status, a stable snake_case code and a human message."""

    def __init__(self, status: int, error: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.error, self.message, self.headers = status, error, message, headers or {}


class NotFound(TailorcardError):
    """What a request names does not exist (a product, a rule): the use cases raise it, the API answers 404."""


# Domain error type -> (status, code). Order matters: the first matching type wins.
DOMAIN_ERRORS = (
    (ImageError, 400, "invalid_image"),
    (EventError, 400, "invalid_event"),
    (PreferenceError, 400, "invalid_event"),
    (CatalogueError, 400, "invalid_product"),
    (RecommenderError, 400, "bad_request"),
    (RoundExists, 409, "round_exists"),
    (NothingToFit, 409, "nothing_to_fit"),
    (TooFewArms, 400, "too_few_arms"),
    (PresentationError, 400, "bad_request"),
    (VariantNotFound, 404, "not_found"),
    (NotFound, 404, "not_found"),
    (KeyCollision, 409, "conflict"),
)


def error_response(status: int, error: str, message: str, headers: dict | None = None):
    response = jsonify(error=error, message=message)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def _http_code(exc: HTTPException) -> str:
    return (exc.name or "error").lower().replace(" ", "_").replace("'", "")


def init_app(app) -> None:
    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return error_response(exc.status, exc.error, exc.message, exc.headers)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        headers = {k: v for k, v in exc.get_headers() if k in ("Allow", "Retry-After")}  # e.g. 405's Allow
        if exc.code == 413:
            headers["Connection"] = "close"
        return error_response(exc.code or 500, _http_code(exc), exc.description or exc.name, headers)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        for kind, status, code in DOMAIN_ERRORS:
            if isinstance(exc, kind):
                return error_response(status, code, str(exc))
        app.logger.exception("unhandled error")  # the traceback stays in the log, never in the response
        return error_response(500, "internal_error", "internal server error; it has been logged")
