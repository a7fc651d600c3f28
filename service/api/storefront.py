"""The demo storefront: pick a shopper, see their personalized grid, click to send events."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template

bp = Blueprint("storefront", __name__)


@bp.get("/")
def index():
    # A storefront key is meant to be public (it can only read cards and send events).
    return render_template("storefront.html", storefront_key=current_app.config["STOREFRONT_KEY"] or "")
