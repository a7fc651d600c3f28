"""A merchant's switch for AI-generated backgrounds: variants off (or on) per product or per category.

    rules = rules_snapshot()                                        # cached per process: cheap on the cards path
    variants_allowed(rules, card["key"], card["product"]["attributes"])  # False: show the product's own photo

Rules live in the `presentation_rules` table (service.db) and are set through /v1/presentation/rules
(service.api.presentation), whose use cases are all_rules(), save_rule(scope, value, variants_off) and
remove_rule(scope, value) (NotFound when there is none). Without any rule every product may show variants.

Precedence
----------
1. A product rule decides for its product, "on" or "off", whatever its categories say: a product
   switched on shows variants even in a category switched off (the merchant's exception), a product
   switched off never shows them.
2. Otherwise, if any of the product's categories is switched off, it shows no variants. A category rule
   "on" never overrides another category's "off" (a category is switched off for all its products);
   it records the merchant's decision and is the same as no rule.
3. Otherwise variants are allowed.

Categories
----------
No column is assumed: which attributes count as a product's categories, and how category text is compared,
is features.categories' (the one place that knows); a product without such attributes has only its product
rule.

Freshness: each process keeps the rules it read for RULES_TTL_SECONDS (config
`PRESENTATION_RULES_TTL_SECONDS`); a write through the API refreshes the writing process at once, other
processes (gunicorn workers) see it within the TTL.
"""
from __future__ import annotations

import numbers
import threading
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa

from features.categories import category_keys, normalize_category, product_categories
from features.ids import echo, product_key
from service import db
from service.deps import EXTENSION, deps
from service.errors import NotFound

PRODUCT, CATEGORY = "product", "category"
SCOPES = (PRODUCT, CATEGORY)
MAX_CATEGORY_LENGTH = 300  # as an attribute value (service.api.items.MAX_FIELD_LENGTH)
RULES_TTL_SECONDS = 10.0
@dataclass(frozen=True)
class RulesSnapshot:
    """The rules at one moment: product key -> variants off, normalized category -> variants off."""
    products: Mapping[int, bool] = field(default_factory=dict)
    categories: Mapping[str, bool] = field(default_factory=dict)


NO_RULES = RulesSnapshot()


def variants_allowed(rules: RulesSnapshot | None, product_id, category=None) -> bool:
    """May this product show an AI-generated variant? `product_id`: its key (an int, numpy's too) or the store's
    id (text); `category`: its attributes (a dict: product_categories is applied), a category text, several, or
    None. Precedence: the module's docstring."""
    if rules is None or (not rules.products and not rules.categories):
        return True
    key = int(product_id) if isinstance(product_id, numbers.Integral) else product_key(str(product_id))
    product_off = rules.products.get(key)
    if product_off is not None:
        return not product_off
    if rules.categories:
        names = product_categories(category) if isinstance(category, Mapping) else \
            category_keys([category] if isinstance(category, str) else (category or ()))
        if any(rules.categories.get(name) for name in names):
            return False
    return True


def category_problem(text) -> str | None:
    """Why text cannot be a category (None: it can): what the API refuses."""
    if not isinstance(text, str) or not text.strip():
        return "a category name that is not blank"
    if len(text) > MAX_CATEGORY_LENGTH:
        return f"a category name of at most {MAX_CATEGORY_LENGTH} characters"
    if "/" in text or any(unicodedata.category(c) in ("Cc", "Cs") for c in text):
        return "a category name without '/' or control characters"
    return None


# ---- the table --------------------------------------------------------------------------------

def list_rules(connection) -> list[dict]:
    table = db.presentation_rules
    rows = connection.execute(sa.select(table).order_by(table.c.scope.desc(), table.c.value)).mappings()
    return [_public(row) for row in rows]


def set_rule(connection, scope: str, value: str, variants_off: bool, now: float | None = None) -> dict:
    """Create or replace the rule for a product (value: the store's id) or a category (any text; normalized)."""
    row = {"scope": _checked_scope(scope), "value": _stored_value(scope, value), "variants_off": bool(variants_off),
           "updated_at": time.time() if now is None else float(now)}
    db.upsert(connection, db.presentation_rules, row, ["scope", "value"])
    return _public(row)


def delete_rule(connection, scope: str, value: str) -> bool:
    """Remove a rule; False if there was none."""
    table = db.presentation_rules
    result = connection.execute(sa.delete(table).where(
        table.c.scope == _checked_scope(scope), table.c.value == _stored_value(scope, value)))
    return result.rowcount > 0


def load_snapshot(connection) -> RulesSnapshot:
    table = db.presentation_rules
    products, categories = {}, {}
    for scope, value, off in connection.execute(sa.select(table.c.scope, table.c.value, table.c.variants_off)):
        if scope == PRODUCT:
            products[product_key(value)] = bool(off)
        elif scope == CATEGORY:
            categories[value] = bool(off)
    return RulesSnapshot(products, categories)


def _checked_scope(scope: str) -> str:
    if scope not in SCOPES:
        raise ValueError(f"scope is {scope!r}; expected one of {SCOPES}")
    return scope


def _stored_value(scope: str, value: str) -> str:
    return normalize_category(value) if scope == CATEGORY else str(value)


def _public(row) -> dict:
    return {"scope": row["scope"], "value": row["value"], "variants": "off" if row["variants_off"] else "on",
            "updated_at": row["updated_at"]}


# ---- the API's use cases ---------------------------------------------------------------------------

def all_rules() -> list[dict]:
    with deps().db.connect() as connection:
        return list_rules(connection)


def save_rule(scope: str, value: str, variants_off: bool) -> dict:
    """set_rule, seen by this process at once (by the others within the TTL)."""
    with deps().db.begin() as connection:
        rule = set_rule(connection, scope, value, variants_off)
    rules_cache().invalidate()
    return rule


def remove_rule(scope: str, value: str) -> None:
    """Back to the default for this product or category; NotFound when it had no rule."""
    with deps().db.begin() as connection:
        removed = delete_rule(connection, scope, value)
    rules_cache().invalidate()
    if not removed:
        raise NotFound(f"no {scope} rule for {echo(value)}")


# ---- the per-process cache ----------------------------------------------------------------------

class RulesCache:
    """The rules, read at most once per `ttl` seconds (a clock read on a hit); `invalidate` after a write."""

    def __init__(self, engine: sa.Engine, ttl: float = RULES_TTL_SECONDS):
        self.engine, self.ttl = engine, float(ttl)
        self._snapshot, self._loaded_at = NO_RULES, None
        self._lock = threading.Lock()

    def snapshot(self) -> RulesSnapshot:
        loaded_at = self._loaded_at
        if loaded_at is not None and time.monotonic() - loaded_at < self.ttl:
            return self._snapshot
        with self._lock:
            if self._loaded_at is None or time.monotonic() - self._loaded_at >= self.ttl:
                with self.engine.connect() as connection:
                    self._snapshot = load_snapshot(connection)
                self._loaded_at = time.monotonic()
            return self._snapshot

    def invalidate(self) -> None:
        self._loaded_at = None


def rules_cache(app=None) -> RulesCache:
    """The app's cache (made by create_app, PRESENTATION_RULES_TTL_SECONDS)."""
    return (app.extensions[EXTENSION] if app is not None else deps()).presentation_rules


def rules_snapshot(app=None) -> RulesSnapshot:
    """The rules as this process knows them (at most PRESENTATION_RULES_TTL_SECONDS old)."""
    return rules_cache(app).snapshot()
