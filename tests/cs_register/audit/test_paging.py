"""Keyset paging through the trail, and runs of repeated views shown once (on display only)."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from cs_register.audit.models import AuditAction, AuditEvent
from tests.cs_register.audit.conftest import event_rows, link


def shown(html: str) -> list[int]:
    """The `n` detail of each row: which of the written events the page shows."""
    return [int(n) for n in re.findall(r"n:</span>\s*(\d+)", html)]


def test_older_and_newer_links_page_through_without_gaps_or_repeats(
    client, logged_in, add_event, clock
):
    logged_in("supervisor")
    total = 123
    for n in range(total):
        # Two minutes apart: no two are one view repeated within a second.
        add_event(
            AuditAction.CONTACT_VIEWED,
            when=clock.now + timedelta(minutes=2 * n),
            details={"n": n},
        )
    pages: list[list[int]] = []
    url: str | None = "/audit?action=contact_viewed"
    htmls = []
    while url is not None:
        response = client.get(url)
        assert response.status_code == 200
        pages.append(shown(response.text))
        htmls.append(response.text)
        url = link(response.text, "next")
    assert [len(page) for page in pages] == [50, 50, 23]
    seen = [n for page in pages for n in page]
    assert seen == list(reversed(range(total)))
    # Every link keeps the filters.
    assert "action=contact_viewed" in (link(htmls[0], "next") or "")
    assert link(htmls[0], "prev") is None

    # Back up from the last page: the same pages, newest first.
    newer = link(htmls[2], "prev")
    assert newer is not None
    assert "after=" in newer
    back = client.get(newer).text
    assert shown(back) == pages[1]
    back_again = client.get(link(back, "prev") or "").text
    assert shown(back_again) == pages[0]
    assert link(back_again, "prev") is None
    assert "Newest events" not in back_again


def test_events_written_while_paging_do_not_shift_the_older_pages(
    client, logged_in, add_event, clock
):
    logged_in("supervisor")
    for n in range(60):
        add_event(
            AuditAction.CONTACT_VIEWED, when=clock.now + timedelta(minutes=n), details={"n": n}
        )
    first = client.get("/audit?action=contact_viewed").text
    for n in range(60, 70):
        add_event(AuditAction.CONTACT_VIEWED, when=clock.now + timedelta(hours=5), details={"n": n})
    older = client.get(link(first, "next") or "").text
    assert shown(older) == list(reversed(range(10)))


def test_repeated_views_within_a_second_are_one_row_with_a_count(
    client, logged_in, add_event, clock, make_staff, db_session
):
    viewer = logged_in("supervisor")
    agent = make_staff("agent")
    contact = "8b0f6a7e-3c1d-4c59-9a51-0e2d0b6f1a11"
    start = clock.now
    subject = {"subject_type": "contact", "subject_id": contact}
    for offset in (0, 0.3, 0.6, 0.999):
        add_event(
            AuditAction.CONTACT_VIEWED,
            actor=agent,
            when=start + timedelta(seconds=offset),
            **subject,
        )
    # A second after the run's newest: a new row.
    add_event(
        AuditAction.CONTACT_VIEWED, actor=agent, when=start + timedelta(seconds=1.999), **subject
    )
    # Someone else, or another action, is never folded in.
    add_event(
        AuditAction.CONTACT_VIEWED, actor=viewer, when=start + timedelta(seconds=2), **subject
    )
    add_event(
        AuditAction.CONTACT_EDITED, actor=agent, when=start + timedelta(seconds=2.1), **subject
    )
    add_event(
        AuditAction.CONTACT_EDITED, actor=agent, when=start + timedelta(seconds=2.2), **subject
    )

    rows = event_rows(client.get(f"/audit?subject={contact}").text)
    assert len(rows) == 5
    assert ["×" in row for row in rows] == [False, False, False, False, True]
    assert "×4" in rows[4]
    assert "Viewed a contact" in rows[4]
    # The rows themselves are all still there.
    count = db_session.scalar(
        sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.subject_id == contact)
    )
    assert count == 8


def test_views_exactly_a_second_apart_are_not_collapsed(client, logged_in, add_event, clock):
    logged_in("supervisor")
    for offset in (0, 1):
        add_event(AuditAction.AUDIT_VIEWED, when=clock.now + timedelta(seconds=offset))
    rows = event_rows(client.get("/audit?action=audit_viewed").text)
    assert len(rows) == 2
    assert not any("×" in row for row in rows)
