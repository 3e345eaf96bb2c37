"""The Alembic migrations build exactly the schema the models describe, on both databases,
can be walked down again, and install the audit trail's append-only guard."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from app import create_app
from cs_register import migrate
from cs_register.config import Settings
from cs_register.db import Base, Database
from cs_register.models import ALL_MODEL_MODULES
from tests.conftest import DatabaseFactory

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MODEL_PACKAGES = ("cs_register", "recordings", "jobs")


def _model_module_names() -> list[str]:
    """Every `models.py` in the application packages, as a module name."""
    names = []
    for package in MODEL_PACKAGES:
        for path in sorted((PROJECT_ROOT / package).rglob("models.py")):
            name = ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
            if name != "cs_register.models":  # the registry itself
                names.append(name)
    return names


# Imported here, at collection, so Base.metadata (and the suite's create_all template) holds
# every table whether or not the registry lists it; the registry has a test of its own.
MODEL_MODULES = [importlib.import_module(name) for name in _model_module_names()]


@pytest.fixture
def empty_database(database_factory: DatabaseFactory) -> Iterator[str]:
    url = database_factory.empty_url()
    yield url
    database_factory.drop(url)


@pytest.fixture
def engine_for() -> Iterator[Callable[[str], sa.Engine]]:
    engines: list[sa.Engine] = []

    def _engine(url: str) -> sa.Engine:
        engine = sa.create_engine(url, poolclass=NullPool)
        engines.append(engine)
        return engine

    yield _engine
    for engine in engines:
        engine.dispose()


def _check_constraints(engine: sa.Engine) -> dict[tuple[str, str | None], str]:
    inspector = sa.inspect(engine)
    return {
        (table, check["name"]): " ".join(check["sqltext"].split())
        for table in inspector.get_table_names()
        if table != "alembic_version"
        for check in inspector.get_check_constraints(table)
    }


def _guard_objects(engine: sa.Engine) -> set[tuple[str, str]]:
    """Triggers (and PostgreSQL trigger functions) guarding the audit table, with their SQL."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            rows = connection.execute(
                sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
            )
            return {(name, " ".join(sql.split())) for name, sql in rows}
        triggers = connection.execute(
            sa.text("SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal")
        )
        functions = connection.execute(
            sa.text(
                "SELECT proname, prosrc FROM pg_proc WHERE pronamespace = 'public'::regnamespace"
            )
        )
        return {(name, " ".join(sql.split())) for name, sql in [*triggers, *functions]}


def test_every_model_module_is_registered_for_alembic() -> None:
    # migrations/env.py (and so `alembic revision --autogenerate`) sees only registered modules.
    registered = {module.__name__ for module in ALL_MODEL_MODULES}
    missing = [module.__name__ for module in MODEL_MODULES if module.__name__ not in registered]
    assert missing == [], "add these to cs_register/models.py ALL_MODEL_MODULES"


def test_head_matches_the_models_exactly(
    empty_database: str, database_factory: DatabaseFactory, engine_for: Callable[[str], sa.Engine]
) -> None:
    migrate.upgrade(empty_database)
    migrated = engine_for(empty_database)

    with migrated.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []

    # Autogenerate ignores CHECK constraints (enum values live there) and triggers; compare
    # them with a schema built by create_all() from the same models.
    from_models = engine_for(database_factory.template_url())
    assert _check_constraints(migrated) == _check_constraints(from_models)
    assert _check_constraints(migrated)  # the comparison above is not vacuous
    assert _guard_objects(migrated) == _guard_objects(from_models)
    assert _guard_objects(migrated)


def test_every_revision_downgrades_one_step_and_base_leaves_nothing(
    empty_database: str, engine_for: Callable[[str], sa.Engine]
) -> None:
    revisions = migrate.all_revisions()
    assert revisions[0] == "0001_initial"
    previous: tuple[str, ...] = ()
    for revision in revisions:
        migrate.upgrade(empty_database, revision)
        assert migrate.current_revisions(empty_database) == (revision,)
        migrate.downgrade(empty_database, "-1")
        assert migrate.current_revisions(empty_database) == previous
        migrate.upgrade(empty_database, revision)
        previous = (revision,)
    assert migrate.current_revisions(empty_database) == migrate.head_revisions()

    migrate.downgrade(empty_database, "base")

    engine = engine_for(empty_database)
    assert sa.inspect(engine).get_table_names() == ["alembic_version"]
    assert _guard_objects(engine) == set()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET actor_label = 'someone-else'",
        "DELETE FROM audit_events",
    ],
)
def test_migrated_audit_table_refuses_updates_and_deletes(
    empty_database: str, engine_for: Callable[[str], sa.Engine], statement: str
) -> None:
    migrate.upgrade(empty_database)
    engine = engine_for(empty_database)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO audit_events (occurred_at, actor_label, action, details)"
                " VALUES (:at, 'system', 'login', '{}')"
            ),
            {"at": "2026-11-23 09:00:00"},
        )

    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(sa.text(statement))

    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT actor_label FROM audit_events")).all()
    assert [row.actor_label for row in rows] == ["system"]


def test_migrations_are_found_from_any_working_directory(
    empty_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    migrate.upgrade(empty_database)
    assert migrate.current_revisions(empty_database) == migrate.head_revisions()


def test_flask_db_commands_upgrade_report_and_downgrade(
    empty_database: str, settings: Settings, engine_for: Callable[[str], sa.Engine]
) -> None:
    database = Database(empty_database)
    app = create_app(settings.with_overrides(database_url=empty_database), database=database)
    runner = app.test_cli_runner()
    try:
        before = runner.invoke(args=["db", "current"])
        assert before.exit_code == 0, before.output
        assert "no revision" in before.output

        upgraded = runner.invoke(args=["db", "upgrade"])
        assert upgraded.exit_code == 0, upgraded.output
        (head,) = migrate.head_revisions()
        assert head in upgraded.output
        assert "staff_users" in sa.inspect(engine_for(empty_database)).get_table_names()

        current = runner.invoke(args=["db", "current"])
        assert "up to date" in current.output

        downgraded = runner.invoke(args=["db", "downgrade", "base"])
        assert downgraded.exit_code == 0, downgraded.output
        assert sa.inspect(engine_for(empty_database)).get_table_names() == ["alembic_version"]
    finally:
        database.dispose()


def test_identity_codes_stored_before_the_free_text_policy_are_redacted(
    empty_database: str, engine_for: Callable[[str], sa.Engine]
) -> None:
    migrate.upgrade(empty_database, "0002_retention_and_intake")
    engine = engine_for(empty_database)
    public_id = "6f123456-7890-4e1f-9a3b-131052a308f1"  # looks like a code in places; is not
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO contacts (id, public_id, channel, direction, occurred_at, subject,"
                " notes, created_at) VALUES (1, :public_id, 'email', 'inbound', :at,"
                " :subject, :notes, :at)"
            ),
            {
                "public_id": public_id,
                "at": "2026-11-01 10:00:00",
                "subject": "Hetu 131052-308T",
                "notes": f"Body 131052 - 308 T, ticket 20261123-0042, contact {public_id}",
            },
        )
        connection.execute(
            sa.text(
                "INSERT INTO email_messages (id, public_id, message_id, message_id_sha256,"
                " message_id_generated, contact_id, sender_name, sender_address, received_at,"
                " attachments) VALUES (1, :public_id, '<m@x>', :sha, false, 1,"
                " 'Matti 131052-308T', 'matti@example.fi', :at, :attachments)"
            ),
            {
                "public_id": "00000000-0000-4000-8000-000000000001",
                "sha": "0" * 64,
                "at": "2026-11-01 10:00:00",
                "attachments": '[{"filename": "hetu131052-308T.pdf", "size_bytes": 1}]',
            },
        )
    migrate.upgrade(empty_database)
    with engine.connect() as connection:
        subject, notes = connection.execute(sa.text("SELECT subject, notes FROM contacts")).one()
        sender, attachments = connection.execute(
            sa.text("SELECT sender_name, attachments FROM email_messages")
        ).one()
    assert subject == "Hetu [identity code removed]"
    assert notes == (f"Body [identity code removed], ticket 20261123-0042, contact {public_id}")
    assert sender == "Matti [identity code removed]"
    assert "131052" not in str(attachments)
    assert "[identity code removed].pdf" in str(attachments)


def test_migrated_audit_table_lets_go_only_what_a_retention_receipt_covers(
    empty_database: str, engine_for: Callable[[str], sa.Engine]
) -> None:
    migrate.upgrade(empty_database)
    engine = engine_for(empty_database)
    with engine.begin() as connection:
        for at in ("2020-01-01 09:00:00", "2026-01-01 09:00:00"):
            connection.execute(
                sa.text(
                    "INSERT INTO audit_events (occurred_at, actor_label, action, details)"
                    " VALUES (:at, 'system', 'login', '{}')"
                ),
                {"at": at},
            )
        connection.execute(
            sa.text(
                "INSERT INTO retention_receipts (sequence, category, removed, first_id, last_id,"
                " rows_sha256, erased, due_before, swept_at, previous_hash, receipt_hash)"
                " VALUES (1, 'audit_events', 1, 1, 2, :digest, '{}', '2021-01-01 00:00:00',"
                " '2026-01-02 00:00:00', :digest, :digest)"
            ),
            {"digest": "0" * 64},
        )
    # The newer event is in the receipt's id range but not older than its cut-off.
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM audit_events WHERE id = 2"))
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM audit_events WHERE id = 1"))
    with engine.connect() as connection:
        ids = connection.execute(sa.text("SELECT id FROM audit_events")).scalars().all()
    assert ids == [2]


def test_intake_tokens_get_the_scope_of_what_they_delivered(
    empty_database: str, engine_for: Callable[[str], sa.Engine]
) -> None:
    migrate.upgrade(empty_database, "0010_passkeys")
    engine = engine_for(empty_database)
    at = "2026-11-01 10:00:00"
    with engine.begin() as connection:
        for token_id, name, scope in [
            (1, "mail-relay", "intake"),
            (2, "pbx", "intake"),
            (3, "new-unused", "intake"),
            (4, "crm", "marketing"),
        ]:
            connection.execute(
                sa.text(
                    "INSERT INTO integration_tokens (id, public_id, name, token_hash,"
                    " token_prefix, scope, created_at) VALUES (:id, :public_id, :name, :hash,"
                    " 'csr_', :scope, :at)"
                ),
                {
                    "id": token_id,
                    "public_id": f"00000000-0000-4000-8000-00000000000{token_id}",
                    "name": name,
                    "hash": str(token_id) * 64,
                    "scope": scope,
                    "at": at,
                },
            )
        for contact_id, channel in [(1, "email"), (2, "phone")]:
            connection.execute(
                sa.text(
                    "INSERT INTO contacts (id, public_id, channel, direction, occurred_at,"
                    " subject, notes, created_at) VALUES (:id, :public_id, :channel, 'inbound',"
                    " :at, '', '', :at)"
                ),
                {
                    "id": contact_id,
                    "public_id": f"00000000-0000-4000-8000-0000000001{contact_id}0",
                    "channel": channel,
                    "at": at,
                },
            )
        connection.execute(
            sa.text(
                "INSERT INTO email_messages (id, public_id, message_id, message_id_sha256,"
                " message_id_generated, contact_id, sender_name, sender_address, received_at,"
                " attachments, integration_token_id) VALUES (1,"
                " '00000000-0000-4000-8000-000000000e01', '<m@x>', :sha, false, 1, '',"
                " 'matti@example.fi', :at, '[]', 1)"
            ),
            {"sha": "0" * 64, "at": at},
        )
        connection.execute(
            sa.text(
                "INSERT INTO calls (id, public_id, external_call_id, direction, customer_number,"
                " started_at, contact_id, created_at, integration_token_id) VALUES (1,"
                " '00000000-0000-4000-8000-000000000c01', 'call-1', 'inbound', '+358401234567',"
                " :at, 2, :at, 2)"
            ),
            {"at": at},
        )
    migrate.upgrade(empty_database)
    with engine.connect() as connection:
        scopes = dict(
            connection.execute(sa.text("SELECT name, scope FROM integration_tokens")).all()
        )
    assert scopes == {
        "mail-relay": "email",
        "pbx": "telephony",
        "new-unused": "telephony",
        "crm": "marketing",
    }
    with engine.begin() as connection, pytest.raises(sa.exc.IntegrityError):
        connection.execute(sa.text("UPDATE integration_tokens SET scope = 'intake'"))


def test_every_revision_id_fits_the_version_table() -> None:
    """`alembic_version.version_num` is VARCHAR(32): PostgreSQL refuses a longer id at the
    upgrade that writes it (SQLite would not notice)."""
    from alembic.script import ScriptDirectory

    root = Path(__file__).resolve().parents[1]
    ids = [
        path.stem
        for path in (root / "migrations" / "versions").glob("*.py")
        if not path.name.startswith("_")
    ]
    assert ids
    config_path = root / "alembic.ini"
    from alembic.config import Config

    config = Config(str(config_path))
    config.set_main_option("script_location", str(root / "migrations"))
    revisions = [script.revision for script in ScriptDirectory.from_config(config).walk_revisions()]
    assert len(revisions) == len(ids)
    too_long = [revision for revision in revisions if len(revision) > 32]
    assert too_long == []
