"""Schema migrations (Alembic) as plain functions for the CLI, the dev stack and the tests.

The migration scripts live in the repository's `migrations/` folder. It is located relative to
this package, not the working directory, so `flask db upgrade` works from any folder.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.pool import NullPool

MIGRATIONS_PATH = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    """An Alembic config pointing at our migration scripts and at `database_url`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_PATH))
    # ConfigParser treats '%' as interpolation; URL-encoded passwords contain it.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    # The application configures logging itself; env.py must not replace it.
    config.attributes["configure_logging"] = False
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the schema up to `revision` (default: the newest)."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    """Take the schema back to `revision` ("base" removes every table)."""
    command.downgrade(alembic_config(database_url), revision)


def current_revisions(database_url: str) -> tuple[str, ...]:
    """The revision(s) the database is at; empty when it was never migrated."""
    engine = sa.create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return tuple(MigrationContext.configure(connection).get_current_heads())
    finally:
        engine.dispose()


def head_revisions() -> tuple[str, ...]:
    """The newest revision(s) among the scripts."""
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return tuple(scripts.get_heads())


def all_revisions() -> list[str]:
    """Every revision id, oldest first."""
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return [script.revision for script in reversed(list(scripts.walk_revisions()))]
