"""Alembic environment: which database, which metadata, and how to compare them.

The URL comes from the Alembic config's `sqlalchemy.url` when a caller set one (that is what
`cs_register.migrate` does), otherwise from the same settings the application uses, so
`alembic upgrade head` in a shell and `flask db upgrade` can never disagree about the target.
"""

from __future__ import annotations

from logging.config import fileConfig
from pathlib import Path

import sqlalchemy as sa
from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.pool import NullPool

import cs_register.models  # noqa: F401  (registers every table on Base.metadata)
from cs_register.config import Settings
from cs_register.db import Base, UTCDateTime

config = context.config
PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Only the `alembic` command line has an ini file with logging sections; when the application
# runs migrations it keeps its own (redacting) logging configuration untouched.
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def database_url() -> str:
    configured = config.get_main_option("sqlalchemy.url")
    if configured:
        return configured
    # The same default instance folder as `python app.py` and `flask --app app`.
    return Settings.from_env(instance_path=PROJECT_ROOT / "instance").database_url


def render_type(type_: str, obj: object, _autogen_context: AutogenContext) -> str | bool:
    """How autogenerate writes our column types into a revision.

    Revisions must not import application types (they outlive them), and the default
    rendering drops the VARCHAR length of non-native enums.
    """
    if type_ != "type":
        return False
    if isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if isinstance(obj, sa.Enum) and not obj.native_enum:
        if not obj.create_constraint:
            # Unchecked enums (audit actions) are plain strings to the database.
            return f"sa.String(length={obj.length})"
        values = ", ".join(repr(value) for value in obj.enums)
        return (
            f"sa.Enum({values}, name={obj.name!r}, native_enum=False,"
            f" create_constraint=True, length={obj.length})"
        )
    return False


def _configure_options(url: str) -> dict[str, object]:
    return {
        "target_metadata": target_metadata,
        "compare_type": True,
        "render_item": render_type,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        "render_as_batch": config.attributes.get("render_as_batch", url.startswith("sqlite")),
    }


def run_migrations_offline() -> None:
    """Emit SQL to stdout (`alembic upgrade head --sql`) instead of touching a database."""
    url = database_url()
    context.configure(
        url=url, literal_binds=True, dialect_opts={"paramstyle": "named"}, **_configure_options(url)
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = database_url()
    # NullPool: a migration run is one connection, opened and closed; nothing to keep pooled.
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, **_configure_options(url))
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
