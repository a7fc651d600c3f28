"""Durable state: SQLAlchemy Core tables. A SQLite file by default, PostgreSQL through DATABASE_URL.

The database is the source of truth; every web worker's in-memory model (service.live) is a
read model rebuilt from it at start and caught up from the append-only `events` and
`product_changes` logs (by their `seq`), so any number of workers agree.
"""
from __future__ import annotations

import os
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

metadata = sa.MetaData()
INSERT_CHUNK = 500  # values per IN (...) list or rows per plain INSERT (SQLite caps bound parameters per statement)

products = sa.Table(
    "products", metadata,
    sa.Column("product_id", sa.BigInteger, primary_key=True, autoincrement=False),  # features.ids.product_key(sku)
    sa.Column("sku", sa.String(128), nullable=True),  # the store's own id; NULL in rows older than SKUs: the key's digits
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=True),  # text the encoder reads of a text-only product
    sa.Column("attributes", sa.JSON, nullable=False),
    sa.Column("in_stock", sa.Boolean, nullable=False, default=True),
    sa.Column("image", sa.LargeBinary, nullable=False),  # empty for a text-only product
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("vector", sa.LargeBinary, nullable=False),  # float32 unit row in the encoder's space
    sa.Column("space_id", sa.Text, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False, default=False),  # kept: past events still point at it
    sa.Column("updated_at", sa.Float, nullable=False),
    # when it joined a running store (a new arrival: recsys.freshness); NULL for the catalogue it was set up with
    sa.Column("created_at", sa.Float, nullable=True),
)

product_changes = sa.Table(
    "product_changes", metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("product_id", sa.BigInteger, nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),  # "upsert" or "delete"
)

events = sa.Table(
    "events", metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(128), nullable=False, unique=True),  # the idempotency key
    sa.Column("user_id", sa.String(160), nullable=False, index=True),
    sa.Column("item_id", sa.BigInteger, nullable=True),  # NULL for a search-only event
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("timestamp", sa.Float, nullable=False),
    sa.Column("session_id", sa.String(128), nullable=False, default=""),
    sa.Column("query", sa.Text, nullable=False, default=""),
    sa.Column("value", sa.Float, nullable=True),
    sa.Column("simulated", sa.Boolean, nullable=False, default=False),
)
sa.Index("events_user_seq", events.c.user_id, events.c.seq)

card_cache = sa.Table(
    "card_cache", metadata,
    sa.Column("user_id", sa.String(160), primary_key=True),
    sa.Column("n", sa.Integer, primary_key=True),
    sa.Column("stamp", sa.String(64), nullable=False),  # which events and catalogue the cards were built from
    sa.Column("payload", sa.JSON, nullable=False),
)

model_state = sa.Table(
    "model_state", metadata,
    sa.Column("name", sa.String(64), primary_key=True),  # e.g. "segments": centroids fitted once, shared
    sa.Column("blob", sa.LargeBinary, nullable=False),
)

jobs = sa.Table(
    "jobs", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("key", sa.String(200), nullable=False, unique=True),  # same work is queued once
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("priority", sa.Integer, nullable=False, default=0),
    sa.Column("status", sa.String(10), nullable=False, default="queued", index=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

# A merchant's switch for AI-generated backgrounds (service.presentation_rules): per product (value: the store's
# product id as written) or per category (value: the category text, normalized: trimmed, spaces collapsed, casefolded).
presentation_rules = sa.Table(
    "presentation_rules", metadata,
    sa.Column("scope", sa.String(16), primary_key=True),  # "product" or "category"
    sa.Column("value", sa.String(1000), primary_key=True),  # a category of up to 300 characters, normalized
    sa.Column("variants_off", sa.Boolean, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)


# Scene rounds (service.scene_rounds): the condition a segment's scenes of round n are painted for, steered by the
# scenes that won round n - 1 (imagegen.presentation.steering); round 0 is the segment's centroid and is not stored.
scene_rounds = sa.Table(
    "scene_rounds", metadata,
    sa.Column("segment", sa.Integer, primary_key=True),
    sa.Column("round", sa.Integer, primary_key=True),
    sa.Column("condition", sa.LargeBinary, nullable=False),  # float32 unit vector
    sa.Column("lineage", sa.JSON, nullable=False),  # parent round, winning variant ids, step
    sa.Column("created_at", sa.Float, nullable=False),
)


SQLITE_FILE = "tailorcard.sqlite"  # an instance folder's database when DATABASE_URL names none


def instance_database_url(instance) -> str:
    """DATABASE_URL when it is set, else the SQLite file in the instance folder."""
    return os.environ.get("DATABASE_URL") or f"sqlite:///{Path(instance) / SQLITE_FILE}"


def make_engine(url: str) -> sa.Engine:
    """An engine; SQLite gets WAL and a busy timeout so gunicorn workers and threads can share it."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith(("postgresql://", "postgres://")):  # the driver we depend on (SQLAlchemy 2.1 defaults to psycopg 3)
        url = "postgresql+psycopg2://" + url.split("://", 1)[1]
    return sa.create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def get_engine() -> sa.Engine:
    return current_app.extensions["tailorcard.db"]


def create_tables(engine: sa.Engine, tables: list[sa.Table] | None = None, attempts: int = 3) -> None:
    """metadata.create_all (the missing tables only), safe when several workers start on a fresh database at once:
    create_all checks, then creates, so another worker may make a table in between ("already exists"; a gunicorn
    worker of `make serve` died of it and took the server down). Such an error means look again, not fail."""
    for attempt in range(attempts):
        try:
            metadata.create_all(engine, tables=tables)
            return
        except sa.exc.DBAPIError as error:
            if attempt == attempts - 1 or not _made_meanwhile(error):
                raise


def _made_meanwhile(error: sa.exc.DBAPIError) -> bool:
    """A CREATE that lost a race: SQLite and PostgreSQL say "already exists"; PostgreSQL may instead trip over its
    catalogue's unique index on type names."""
    message = str(error.orig)
    return "already exists" in message or "pg_type_typname_nsp_index" in message


def create_or_upgrade(engine: sa.Engine) -> None:
    """Create the missing tables, then add the missing nullable columns of existing ones: the only kind of
    schema change made so far, so a database written by an older version keeps working as it is."""
    create_tables(engine)
    inspector = sa.inspect(engine)
    with engine.begin() as connection:
        for table in metadata.sorted_tables:
            present = {column["name"] for column in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name not in present and column.nullable:
                    kind = column.type.compile(dialect=engine.dialect)
                    connection.execute(sa.text(f'ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}'))


def init_app(app) -> None:
    engine = make_engine(app.config["DATABASE_URL"])
    create_or_upgrade(engine)
    app.extensions["tailorcard.db"] = engine
    app.cli.add_command(init_db_command)


def insert_ignoring_duplicates(connection, table: sa.Table, rows: list[dict]) -> int:
    """Insert rows, skipping those whose unique key is taken (idempotency); returns how many went in.

    One executemany with RETURNING: SQLAlchemy batches it into multi-row statements ("insertmanyvalues", sized
    to the dialect's parameter limits), and the returned rows count exactly the rows that were new."""
    if not rows:
        return 0
    key = next(iter(table.primary_key.columns))
    statement = dialect_insert(connection, table).on_conflict_do_nothing().returning(key)
    return len(connection.execute(statement, rows).all())


def dialect_insert(connection, table: sa.Table):
    """The dialect's own INSERT (PostgreSQL or SQLite), which has `on_conflict_do_*`."""
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


@click.command("init-db")
@with_appcontext
def init_db_command():
    """Create the tables (existing data is kept)."""
    create_or_upgrade(get_engine())
    click.echo("database ready")


def upsert(connection, table: sa.Table, row: dict, keys: list[str]) -> None:
    """Insert a row, or update it where its key exists (one statement on both SQLite and PostgreSQL)."""
    statement = dialect_insert(connection, table).values(row)
    connection.execute(statement.on_conflict_do_update(
        index_elements=keys, set_={c: statement.excluded[c] for c in row if c not in keys}))
