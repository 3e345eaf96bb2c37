"""Tables the database itself refuses to change: the audit trail and the purge ledger.

The triggers are installed with the table by `create_all()`; the migrations carry the same
statements for databases built by Alembic. Rows still leave such a table only through a
documented exception that drops nothing here.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import DDL, event


def guard_statements(table: str, *, removable_when: str | None = None) -> dict[str, list[str]]:
    """The statements, per dialect, that make `table` refuse every UPDATE and DELETE.

    `removable_when` is the one documented exception: an SQL condition on the row (`OLD`)
    under which a DELETE is let through. Only the audit trail has one (its retention,
    `cs_register.audit.retention`).
    """
    message = f"'{table} is append-only'"
    sqlite_delete_guard = f"WHEN NOT ({removable_when}) " if removable_when else ""
    postgresql_exception = (
        f"IF TG_OP = 'DELETE' AND ({removable_when}) THEN RETURN OLD; END IF; "
        if removable_when
        else ""
    )
    return {
        "sqlite": [
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, {message}); END",
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} {sqlite_delete_guard}"
            f"BEGIN SELECT RAISE(ABORT, {message}); END",
        ],
        "postgresql": [
            f"CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {postgresql_exception}RAISE EXCEPTION {message}; END $$",
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()",
        ],
    }


def drop_guard_statements(table: str) -> dict[str, list[str]]:
    """The statements that remove `table`'s guard (to replace it in a migration)."""
    return {
        "sqlite": [
            f"DROP TRIGGER IF EXISTS {table}_no_update",
            f"DROP TRIGGER IF EXISTS {table}_no_delete",
        ],
        "postgresql": [
            f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
            f"DROP FUNCTION IF EXISTS {table}_append_only()",
        ],
    }


def install_append_only_guard(
    table: sa.Table, *, removable_when: str | None = None, after: sa.MetaData | None = None
) -> None:
    """Install the guard whenever SQLAlchemy creates `table`, on SQLite and PostgreSQL.

    A guard whose exception reads another table is installed once the whole `after` metadata
    exists, so that table is there when the trigger is created.
    """
    target: sa.Table | sa.MetaData = after if after is not None else table
    statements = guard_statements(table.name, removable_when=removable_when)
    for dialect, dialect_statements in statements.items():
        for statement in dialect_statements:
            event.listen(target, "after_create", DDL(statement).execute_if(dialect=dialect))
