"""Durable state of experiments: definitions, sticky assignments, exposures, bandit decisions. SQL lives here only.

The tables join service.db's metadata (so `flask init-db` creates them) and are also created
on first use, so the app works whichever module was imported first. Names of experiments, arms
and slots are ids (features.ids), so their columns are as wide as the longest id. Columns added
since a table was first made (exposures' segment, image_url, decision) are nullable and added in
place on first use (`add_missing_columns`).
"""
from __future__ import annotations

import json
import time

import pandas as pd
import sqlalchemy as sa

from features.ids import MAX_ID_LENGTH
from recsys.experiments import Experiment
from service.db import (INSERT_CHUNK, create_tables, dialect_insert, events, insert_ignoring_duplicates, metadata,
                        upsert)

OUTCOME_TYPES = ("click", "add_to_cart", "purchase")
NAME = sa.String(MAX_ID_LENGTH)  # experiment, arm and slot names (ids)
MAX_IMAGE_URL = 1024  # an exposure's image URL (ours are far shorter)

experiments = sa.Table(
    "experiments", metadata,
    sa.Column("name", NAME, primary_key=True),
    sa.Column("definition", sa.JSON, nullable=False),  # Experiment.to_dict(): arms, layer range, bucket map, ...
    sa.Column("status", sa.String(8), nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

assignments = sa.Table(
    "experiment_assignments", metadata,
    sa.Column("experiment", NAME, primary_key=True),
    sa.Column("user_id", sa.String(160), primary_key=True),
    sa.Column("arm", NAME, nullable=False),
    sa.Column("assigned_at", sa.Float, nullable=False),
)

exposures = sa.Table(
    "experiment_exposures", metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("experiment", NAME, nullable=False),
    sa.Column("arm", NAME, nullable=False),
    sa.Column("user_id", sa.String(160), nullable=False),
    sa.Column("item_id", sa.BigInteger, nullable=False),
    sa.Column("slot", NAME, nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("image", sa.String(16), nullable=False),  # what the card showed: "original" or "variant"
    sa.Column("timestamp", sa.Float, nullable=False),
    # added with bandit mode (nullable: older rows and storefront-reported cards lack them)
    sa.Column("segment", sa.Integer, nullable=True),  # the shopper's taste segment when served
    sa.Column("image_url", sa.String(MAX_IMAGE_URL), nullable=True),  # the card's image as served
    sa.Column("decision", sa.BigInteger, nullable=True),  # experiment_decisions.seq of a bandit decision
)
sa.Index("experiment_exposures_by_experiment", exposures.c.experiment, exposures.c.timestamp)

decisions = sa.Table(
    "experiment_decisions", metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("experiment", NAME, nullable=False),
    sa.Column("user_id", sa.String(160), nullable=False),
    sa.Column("segment", sa.Integer, nullable=True),
    sa.Column("arm", NAME, nullable=False),
    sa.Column("probability", sa.Float, nullable=False),  # the shown arm's probability when decided
    sa.Column("probabilities", sa.JSON, nullable=False),  # arm -> probability, every arm
    sa.Column("at", sa.Float, nullable=False),
)
sa.Index("experiment_decisions_by_experiment", decisions.c.experiment, decisions.c.at)

TABLES = (experiments, assignments, exposures, decisions)
ADDED_COLUMNS = {"experiment_exposures": ("segment", "image_url", "decision")}


def ensure_tables(engine: sa.Engine) -> None:
    create_tables(engine, list(TABLES))
    add_missing_columns(engine)
    widen_columns(engine)


def add_missing_columns(engine: sa.Engine) -> None:
    """Tables made before a column was added keep their old columns (create_all leaves existing tables as
    they are): add the nullable ones in place, once. Concurrent workers may both try: a duplicate is fine."""
    inspector = sa.inspect(engine)
    for table in TABLES:
        added = ADDED_COLUMNS.get(table.name, ())
        if not added:
            continue
        stored = {column["name"] for column in inspector.get_columns(table.name)}
        for name in added:
            if name in stored:
                continue
            column = table.c[name]
            kind = column.type.compile(dialect=engine.dialect)
            try:
                with engine.begin() as connection:
                    connection.execute(sa.text(f'ALTER TABLE {table.name} ADD COLUMN "{name}" {kind}'))
            except sa.exc.DBAPIError:
                if name not in {c["name"] for c in sa.inspect(engine).get_columns(table.name)}:
                    raise  # not another worker's doing


def widen_columns(engine: sa.Engine) -> None:
    """Tables made when names were at most 64 characters keep their VARCHAR(64) columns (create_all leaves
    existing tables as they are) and PostgreSQL enforces the length: widen them in place, once. A wider
    VARCHAR needs no table rewrite there. SQLite does not enforce lengths."""
    if engine.dialect.name != "postgresql":
        return
    inspector = sa.inspect(engine)
    narrow = []
    for table in TABLES:
        stored = {column["name"]: getattr(column["type"], "length", None)
                  for column in inspector.get_columns(table.name)}
        narrow += [(table.name, column.name, column.type.length) for column in table.columns
                   if _narrower(stored.get(column.name), getattr(column.type, "length", None))]
    if narrow:
        with engine.begin() as connection:
            for table, column, length in narrow:
                connection.execute(sa.text(f'ALTER TABLE {table} ALTER COLUMN "{column}" TYPE VARCHAR({length})'))


def _narrower(stored: int | None, wanted: int | None) -> bool:
    return stored is not None and wanted is not None and stored < wanted


# ---- definitions ----------------------------------------------------------------------------

def _row(experiment: Experiment) -> dict:
    # Through JSON and back, so tuples are stored as the lists they come back as.
    return {"name": experiment.name, "definition": json.loads(json.dumps(experiment.to_dict())),
            "status": experiment.status, "updated_at": time.time()}


def save_experiment(connection, experiment: Experiment) -> None:
    upsert(connection, experiments, _row(experiment), ["name"])


def insert_experiment(connection, experiment: Experiment) -> bool:
    """False when the name is taken."""
    return insert_ignoring_duplicates(connection, experiments, [_row(experiment)]) == 1


def get_experiment(connection, name: str) -> Experiment | None:
    definition = connection.execute(sa.select(experiments.c.definition).where(experiments.c.name == name)).scalar()
    return Experiment.from_dict(definition) if definition else None


def list_experiments(connection, status: str | None = None) -> list[Experiment]:
    query = sa.select(experiments.c.definition).order_by(experiments.c.name)
    if status:
        query = query.where(experiments.c.status == status)
    return [Experiment.from_dict(d) for d in connection.execute(query).scalars()]


# ---- assignments ----------------------------------------------------------------------------

class AssignmentTable:
    """recsys.experiments.assignment.AssignmentStore for one experiment and a batch of users:
    one read for their existing assignments, one write for the new ones (`flush`)."""

    def __init__(self, connection, experiment: str, user_ids: list[str]):
        self.connection, self.experiment, self.pending = connection, experiment, []
        self.known = {}
        for start in range(0, len(user_ids), INSERT_CHUNK):
            self.known.update(connection.execute(sa.select(assignments.c.user_id, assignments.c.arm).where(
                assignments.c.experiment == experiment,
                assignments.c.user_id.in_(user_ids[start:start + INSERT_CHUNK]))).all())

    def get(self, experiment: str, user_id: str) -> str | None:
        return self.known.get(user_id)

    def add(self, experiment: str, user_id: str, arm: str, at: float) -> None:
        self.known[user_id] = arm
        self.pending.append(assignment_row(experiment, user_id, arm, at))

    def flush(self) -> None:
        add_assignments(self.connection, self.pending)
        self.pending = []


def assignment_row(experiment: str, user_id: str, arm: str, at: float) -> dict:
    return {"experiment": experiment, "user_id": user_id, "arm": arm, "assigned_at": at}


def add_assignments(connection, rows: list[dict]) -> None:
    """Store assignments; a user's first stored arm is kept. One compiled statement for all rows
    (executemany). A concurrent request that assigned the same new user first wrote the same arm
    (both hash alike), or an arm that cards were already served in: either way its row stays."""
    if rows:
        connection.execute(dialect_insert(connection, assignments).on_conflict_do_nothing(), rows)


# ---- exposures and outcomes -----------------------------------------------------------------

EXPOSURE_DEFAULTS = {"segment": None, "image_url": None, "decision": None}


def add_exposures(connection, rows: list[dict]) -> int:
    rows = [{**EXPOSURE_DEFAULTS, **row} for row in rows]  # one statement shape for every row (executemany)
    for row in rows:
        if row["image_url"] is not None and len(row["image_url"]) > MAX_IMAGE_URL:
            row["image_url"] = None  # too long to be one of ours; the results show no example then
    for start in range(0, len(rows), INSERT_CHUNK):
        connection.execute(exposures.insert(), rows[start:start + INSERT_CHUNK])
    return len(rows)


def add_decision(connection, row: dict) -> int:
    """Store one bandit decision; returns its seq (the exposures served in it name it)."""
    return int(connection.execute(decisions.insert().values(**row)).inserted_primary_key[0])


def exposure_frame(connection, name: str, since: float | None = None) -> pd.DataFrame:
    query = sa.select(exposures.c.user_id, exposures.c.arm, exposures.c.item_id, exposures.c.slot,
                      exposures.c.position, exposures.c.image, exposures.c.timestamp, exposures.c.segment,
                      exposures.c.image_url, exposures.c.decision).where(exposures.c.experiment == name)
    if since is not None:
        query = query.where(exposures.c.timestamp >= since)
    return _frame(connection, query, [c.name for c in query.selected_columns])


def exposures_after(connection, name: str, after_seq: int, since: float, of_experiment: bool = False) -> pd.DataFrame:
    """Exposures with seq > `after_seq`, what a bandit's running counts need: the experiment's own, and every other
    experiment's stamped from `since` on (a click after a later exposure of that product elsewhere is not this
    experiment's); `of_experiment`: only its shoppers' there (worth the join when the read goes back to its start).
    Column `experiment` tells them apart."""
    elsewhere = _elsewhere(name, since, of_its_shoppers=of_experiment)
    query = sa.select(exposures.c.seq, exposures.c.experiment, exposures.c.user_id, exposures.c.arm,
                      exposures.c.item_id, exposures.c.timestamp, exposures.c.segment).where(
        exposures.c.seq > after_seq, sa.or_(exposures.c.experiment == name, elsewhere))
    return _frame(connection, query, [c.name for c in query.selected_columns])


def clicks_after(connection, since: float, after_seq: int, of_experiment: str | None = None) -> pd.DataFrame:
    """Clicks with seq > `after_seq`, stamped from `since` on: every shopper's, or, given `of_experiment`, only
    those of its shoppers (worth the join with its decision log when the read goes back to its start; a click of
    someone it never showed a card credits nothing either way)."""
    query = sa.select(events.c.seq, events.c.user_id, events.c.item_id, events.c.type, events.c.timestamp).where(
        events.c.seq > after_seq, events.c.type == "click", events.c.timestamp >= since,
        events.c.item_id.is_not(None))
    if of_experiment is not None:
        query = query.where(events.c.user_id.in_(_experiment_users(of_experiment)))
    return _frame(connection, query, ["seq", "user_id", "item_id", "type", "timestamp"])


def decision_frame(connection, name: str) -> pd.DataFrame:
    """Every bandit decision of the experiment, in order: seq, user_id, segment, arm, probability, probabilities."""
    query = sa.select(decisions.c.seq, decisions.c.user_id, decisions.c.segment, decisions.c.arm,
                      decisions.c.probability, decisions.c.probabilities, decisions.c.at).where(
        decisions.c.experiment == name).order_by(decisions.c.seq)
    return _frame(connection, query, [c.name for c in query.selected_columns])


def outcome_events(connection, name: str, since: float, types=OUTCOME_TYPES) -> pd.DataFrame:
    """Clicks, add-to-carts and purchases of the experiment's users (assigned, or in a bandit decision) from
    its start on."""
    query = sa.select(events.c.user_id, events.c.item_id, events.c.type, events.c.timestamp).where(
        events.c.user_id.in_(_experiment_users(name)), events.c.type.in_(types),
        events.c.timestamp >= since, events.c.item_id.is_not(None))
    return _frame(connection, query, ["user_id", "item_id", "type", "timestamp"])


def exposures_elsewhere(connection, name: str, since: float, until: float | None = None) -> pd.DataFrame:
    """The experiment's shoppers' exposures in other experiments from `since` on (to `until`: a stopped
    experiment's stop plus its attribution window, after which no click can be its own): a click after a later
    one of the same product is that experiment's (recsys.experiments.attribution)."""
    query = sa.select(exposures.c.user_id, exposures.c.item_id, exposures.c.timestamp).where(
        _elsewhere(name, since, of_its_shoppers=True))
    if until is not None:
        query = query.where(exposures.c.timestamp <= until)
    return _frame(connection, query, ["user_id", "item_id", "timestamp"])


def pre_period_clicks(connection, name: str, start: float, lookback_s: float) -> pd.Series:
    """Clicks per assigned user in the lookback before the start: the CUPED covariate."""
    query = sa.select(events.c.user_id, sa.func.count()).where(
        events.c.user_id.in_(_assigned_users(name)), events.c.type == "click",
        events.c.timestamp >= start - lookback_s, events.c.timestamp < start).group_by(events.c.user_id)
    rows = connection.execute(query).all()
    return pd.Series({user: float(count) for user, count in rows}, dtype=float, name="pre_period")


def _frame(connection, query, columns: list[str]) -> pd.DataFrame:
    # Plain tuples: pandas probes Row objects attribute by attribute, which is slow.
    return pd.DataFrame([tuple(row) for row in connection.execute(query)], columns=columns)


def _elsewhere(name: str, since: float, of_its_shoppers: bool):
    """Exposure rows of other experiments stamped from `since` on; of the experiment's shoppers only if asked."""
    condition = sa.and_(exposures.c.experiment != name, exposures.c.timestamp >= since)
    return sa.and_(condition, exposures.c.user_id.in_(_experiment_users(name))) if of_its_shoppers else condition


def _experiment_users(name: str):
    """Its shoppers: those assigned an arm, and those in a bandit decision."""
    return sa.union(_assigned_users(name), sa.select(decisions.c.user_id).where(decisions.c.experiment == name))


def _assigned_users(name: str):
    return sa.select(assignments.c.user_id).where(assignments.c.experiment == name)
