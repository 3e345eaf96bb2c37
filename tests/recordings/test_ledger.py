"""The receipt ledger: hash-chained, verifiable, append-only in code and in the database."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from recordings.ledger import (
    GENESIS_HASH,
    append_receipt,
    compute_receipt_hash,
    receipt_fields,
    verify_ledger,
)
from recordings.models import PurgeReason
from recordings.sweep import run_sweep
from tests.recordings import purge_support

# Shared fixtures of the retention-engine tests.
receipts = purge_support.receipts
stored_recording = purge_support.stored_recording


@pytest.fixture
def three_receipts(database, storage, policy, stored_recording, clock, receipts):
    for days in (300, 200, 100):
        stored_recording(clock.now - timedelta(days=days))
    assert run_sweep(database, storage, now=clock.now, policy=policy).purged == 3
    return receipts()


def drop_guard(database, statement: str) -> None:
    """Remove the append-only trigger, as an attacker with database access could."""
    with database.engine.begin() as connection:
        if database.engine.dialect.name == "postgresql":
            connection.execute(sa.text("DROP TRIGGER purge_receipts_append_only ON purge_receipts"))
        else:
            connection.execute(sa.text(f"DROP TRIGGER purge_receipts_no_{statement}"))


def test_the_chain_links_every_receipt_and_verifies(database, three_receipts):
    assert [r.sequence for r in three_receipts] == [1, 2, 3]
    assert three_receipts[0].previous_hash == GENESIS_HASH
    for before, after in zip(three_receipts, three_receipts[1:], strict=False):
        assert after.previous_hash == before.receipt_hash
    with database.session_factory() as session:
        assert verify_ledger(session) == verify_ledger(session)
        result = verify_ledger(session)
    assert (result.ok, result.receipts, result.first_broken) == (True, 3, None)


def test_an_empty_ledger_verifies(database):
    with database.session_factory() as session:
        assert verify_ledger(session).ok


def test_an_altered_receipt_is_the_first_broken_link(database, three_receipts):
    drop_guard(database, "update")
    victim = three_receipts[1]
    with database.engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE purge_receipts SET size_bytes = size_bytes + 1 WHERE id = :id"),
            {"id": victim.id},
        )
    with database.session_factory() as session:
        result = verify_ledger(session)
    assert (result.ok, result.first_broken) == (False, victim.id)
    assert "altered" in result.problem


def test_a_rewritten_receipt_with_a_fresh_hash_breaks_the_next_link(database, three_receipts):
    drop_guard(database, "update")
    victim, following = three_receipts[0], three_receipts[1]
    forged = receipt_fields(victim) | {"size_bytes": victim.size_bytes + 1}
    with database.engine.begin() as connection:
        # The forger recomputes the victim's own hash; the next receipt still links to the old.
        connection.execute(
            sa.text(
                "UPDATE purge_receipts SET size_bytes = :size, receipt_hash = :h WHERE id = :id"
            ),
            {"size": forged["size_bytes"], "h": compute_receipt_hash(forged), "id": victim.id},
        )
    with database.session_factory() as session:
        result = verify_ledger(session)
    assert (result.ok, result.first_broken) == (False, following.id)
    assert "does not link" in result.problem


def test_a_removed_receipt_is_detected_at_the_next_one(database, three_receipts):
    drop_guard(database, "delete")
    with database.engine.begin() as connection:
        connection.execute(
            sa.text("DELETE FROM purge_receipts WHERE id = :id"), {"id": three_receipts[1].id}
        )
    with database.session_factory() as session:
        result = verify_ledger(session)
    assert (result.ok, result.receipts, result.first_broken) == (False, 2, three_receipts[2].id)
    assert "missing" in result.problem


@pytest.mark.parametrize(
    "statement",
    ["UPDATE purge_receipts SET job_id = 'forged'", "DELETE FROM purge_receipts"],
)
def test_the_database_refuses_to_change_receipts(database, three_receipts, statement):
    with pytest.raises(sa.exc.DBAPIError), database.engine.begin() as connection:
        connection.execute(sa.text(statement))
    with database.session_factory() as session:
        assert verify_ledger(session).receipts == 3


def test_a_recording_can_have_only_one_receipt(database, three_receipts, clock):
    first = three_receipts[0]
    with pytest.raises(sa.exc.IntegrityError), database.unit_of_work() as session:
        append_receipt(
            session,
            reason=PurgeReason.RETENTION_EXPIRED,
            purged_at=clock.now,
            recording_id=first.recording_id,
            recording_public_id=first.recording_public_id,
        )


def test_receipts_hold_no_personal_data(database, three_receipts):
    columns = set(three_receipts[0].__table__.columns.keys())
    assert not columns & {"customer_number", "name", "phone", "email", "identity_code"}
    assert not any(name.startswith("customer") for name in columns)


def test_the_purge_history_page_shows_receipts_and_the_verification(
    client, logged_in, three_receipts
):
    logged_in("supervisor")
    page = client.get("/recordings/purges")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Ledger verified: 3 receipts" in text
    for receipt in three_receipts:
        assert receipt.recording_public_id[:8] in text
    # Newest first.
    assert text.index(three_receipts[2].recording_public_id[:8]) < text.index(
        three_receipts[0].recording_public_id[:8]
    )


def test_the_purge_history_page_pages_and_reports_a_broken_chain(
    app, client, logged_in, database, three_receipts, monkeypatch
):
    monkeypatch.setattr("recordings.views.PAGE_SIZE", 2)
    logged_in("dpo")
    first = client.get("/recordings/purges").get_data(as_text=True)
    assert three_receipts[0].recording_public_id[:8] not in first
    assert "before=2" in first
    older = client.get("/recordings/purges?before=2").get_data(as_text=True)
    assert three_receipts[0].recording_public_id[:8] in older

    drop_guard(database, "update")
    with database.engine.begin() as connection:
        connection.execute(sa.text("UPDATE purge_receipts SET job_id = 'x'"))
    broken = client.get("/recordings/purges").get_data(as_text=True)
    assert f"Ledger BROKEN at receipt {three_receipts[0].id}" in broken


def test_agents_cannot_see_the_purge_history(client, logged_in):
    logged_in("agent")
    assert client.get("/recordings/purges").status_code == 403
