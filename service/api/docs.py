"""The OpenAPI 3 document and a human-readable page generated from it (no external scripts)."""
from __future__ import annotations

from flask import Blueprint, jsonify, render_template

from service.openapi import openapi_document

bp = Blueprint("docs", __name__)


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())


@bp.get("/docs")
def docs():
    return render_template("docs.html", spec=openapi_document())
