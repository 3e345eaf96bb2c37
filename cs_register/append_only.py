"""Tables the database itself refuses to change: the audit trail and the purge ledger.

The triggers are installed with the table by `create_all()`; the migrations carry the same
statements for databases built by Alembic. Rows still leave such a table only through a
documented exception that drops nothing here.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import DDL, event


def guard_statements(table: str) -> dict[str, list[str]]:
    """The statements, per dialect, that make `table` refuse every UPDATE and DELETE."""
    message = f"'{table} is append-only'"
    return {
        "sqlite": [
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, {message}); END",
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, {message}); END",
        ],
        "postgresql": [
            f"CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION {message}; END $$",
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()",
        ],
    }


def install_append_only_guard(table: sa.Table) -> None:
    """Install the guard whenever SQLAlchemy creates `table`, on SQLite and PostgreSQL."""
    for dialect, statements in guard_statements(table.name).items():
        for statement in statements:
            event.listen(table, "after_create", DDL(statement).execute_if(dialect=dialect))
