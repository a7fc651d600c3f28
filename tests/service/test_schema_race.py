"""Workers started together on a fresh database create its tables together: one that loses the race goes on."""
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from service import db, experiments_db


@contextmanager
def before_creating(table, hook):
    """`hook` runs once, after create_all has found `table` missing and before it creates it."""
    calls = []

    def once(target, connection, **kw):
        if not calls:
            calls.append(1)
            hook(connection)
    sa.event.listen(table, "before_create", once)
    try:
        yield calls
    finally:
        sa.event.remove(table, "before_create", once)


def test_a_table_another_worker_made_between_the_check_and_the_create_is_no_error(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.sqlite'}"
    engine, rival = db.make_engine(url), sa.create_engine(url)

    def another_worker_creates_it(connection):
        with rival.begin() as other:
            experiments_db.experiments.create(other)
    with before_creating(experiments_db.experiments, another_worker_creates_it) as calls:
        experiments_db.ensure_tables(engine)  # `make serve`'s second gunicorn worker died here: "already exists"
    assert calls and {table.name for table in experiments_db.TABLES} <= set(sa.inspect(engine).get_table_names())


def test_any_other_database_error_while_creating_tables_is_raised(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'fresh.sqlite'}")
    with before_creating(experiments_db.experiments, lambda connection: connection.exec_driver_sql("CREATE TABLE (")):
        with pytest.raises(sa.exc.OperationalError, match="syntax error"):
            experiments_db.ensure_tables(engine)
