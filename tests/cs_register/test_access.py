"""Who may reach what: anonymous requests are turned away everywhere except the public list, and
each role reaches exactly the endpoints the declarative matrix below grants it.

The matrix is written by hand on purpose. Deriving it from the code would only prove that the
code agrees with itself; here a person states what each role should reach, the tests prove the
application does exactly that, and a new route fails the suite until someone classifies it.
docs/access-matrix.md is the same table for readers; a test keeps the two in step.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from cs_register.permissions import ROLE_PERMISSIONS, Permission
from cs_register.web import PUBLIC_ENDPOINTS
from tests.cs_register.conftest import build_url, console_rules, rule_methods

ROLES = ("agent", "supervisor", "admin", "dpo")

EVERYONE = frozenset(ROLES)
CUSTOMER_READERS = frozenset({"agent", "supervisor", "dpo"})
CUSTOMER_EDITORS = frozenset({"agent", "supervisor", "dpo"})
CONTACT_LOGGERS = frozenset({"agent", "supervisor"})
AUDIT_READERS = frozenset({"supervisor", "dpo"})
RECORDING_LISTENERS = frozenset({"agent", "supervisor"})
RECORDING_KEEPERS = frozenset({"supervisor"})
STAFF_ADMINS = frozenset({"admin"})

# endpoint -> the roles allowed to use it. Every endpoint in the URL map must be listed here.
ROLE_MATRIX: dict[str, frozenset[str]] = {
    # Public: reachable without logging in (and harmless for anyone logged in).
    "auth.login": EVERYONE,
    # The second step of a login: before a session exists, guarded by the password step.
    "auth.second_step": EVERYONE,
    "auth.enrol_second_step": EVERYONE,
    "health.health": EVERYONE,
    "health.healthz": EVERYONE,
    "health.readyz": EVERYONE,
    # The monitoring system's, with its own token (404 without one configured).
    "metrics.metrics": EVERYONE,
    "static": EVERYONE,
    # Every logged-in staff member: their own session and password, and the start page.
    "auth.home": EVERYONE,
    "auth.logout": EVERYONE,
    "auth.change_password": EVERYONE,
    "auth.two_step_settings": EVERYONE,
    "auth.new_passkey": EVERYONE,
    "auth.own_sessions": EVERYONE,
    "auth.add_passkey": EVERYONE,
    "auth.remove_passkey": EVERYONE,
    "auth.language": EVERYONE,
    # Customer register.
    "customers.dashboard": CUSTOMER_READERS,
    "customers.search": CUSTOMER_READERS,
    "customers.customer_page": CUSTOMER_READERS,
    "customers.customer_history": CUSTOMER_READERS,
    "customers.new_customer": CUSTOMER_EDITORS,
    "customers.edit_customer": CUSTOMER_EDITORS,
    "customers.reveal_identity_code": CUSTOMER_READERS,
    # Contacts: reading them goes with reading customers; logging them is front-line work.
    "contacts.contact_page": CUSTOMER_READERS,
    "contacts.unlinked": CUSTOMER_READERS,
    "contacts.search_unlinked": CUSTOMER_READERS,
    "contacts.new_contact": CONTACT_LOGGERS,
    "contacts.record_verification": CONTACT_LOGGERS,
    "contacts.link_contact": CONTACT_LOGGERS,
    "contacts.edit_contact": CONTACT_LOGGERS,
    "consents.record_choice": CONTACT_LOGGERS,
    "consents.end_choice": CONTACT_LOGGERS,
    # Call recordings: agents listen to calls; supervisors also download and keep (hold) them.
    # The DPO too, but only the recordings a privacy request concerns (recordings.access).
    "recordings.recording_page": RECORDING_LISTENERS | {"dpo"},
    "recordings.audio": RECORDING_LISTENERS | {"dpo"},
    "recordings.upload_for_contact": CONTACT_LOGGERS,
    "recordings.download": RECORDING_KEEPERS,
    "recordings.recording_list": RECORDING_KEEPERS,
    "recordings.holds_dashboard": RECORDING_KEEPERS,
    "recordings.retention_overview": RECORDING_KEEPERS,
    "recordings.place_hold": RECORDING_KEEPERS,
    "recordings.release_hold": RECORDING_KEEPERS,
    # Receipts of purged recordings: no personal data, for oversight (supervisor) and the DPO.
    "recordings.purge_history": AUDIT_READERS,
    "statistics.statistics_page": AUDIT_READERS,
    "statistics.statistics_csv": AUDIT_READERS,
    # Oversight.
    "audit.browse": AUDIT_READERS,
    "audit.export_csv": AUDIT_READERS,
    # Everything held about one person, from every registered source: the DPO's work alone.
    "privacy.everything_held": frozenset({"dpo"}),
    # Privacy requests: whoever serves the customer registers one; the DPO carries it out;
    # supervisors follow the queue read-only.
    "privacy.new_customer_request": frozenset({"agent", "supervisor", "dpo"}),
    "privacy.queue": AUDIT_READERS,
    "privacy.case_page": AUDIT_READERS,
    "privacy.new_request": frozenset({"dpo"}),
    "privacy.start_case": frozenset({"dpo"}),
    "privacy.extend_case": frozenset({"dpo"}),
    "privacy.complete_case": frozenset({"dpo"}),
    "privacy.refuse_case": frozenset({"dpo"}),
    "privacy.request_export": frozenset({"dpo"}),
    "privacy.erase_customer": frozenset({"dpo"}),
    "privacy.relink_contact": frozenset({"dpo"}),
    "privacy.restrict_processing": frozenset({"dpo"}),
    "privacy.lift_restriction": frozenset({"dpo"}),
    "privacy.record_objection": frozenset({"dpo"}),
    "privacy.withdraw_objection": frozenset({"dpo"}),
    "privacy.download_export": frozenset({"dpo"}),
    "privacy.export_schema": frozenset({"dpo"}),
    # Staff administration.
    "admin.staff_list": STAFF_ADMINS,
    "admin.staff_detail": STAFF_ADMINS,
    "admin.new_staff": STAFF_ADMINS,
    "admin.change_role": STAFF_ADMINS,
    "admin.set_active": STAFF_ADMINS,
    "admin.reset_password": STAFF_ADMINS,
    "admin.reset_two_step": STAFF_ADMINS,
    "admin.end_sessions": STAFF_ADMINS,
    "admin.approval_list": STAFF_ADMINS,
    "admin.decide": STAFF_ADMINS,
    # Integration tokens (the telephony API's credentials).
    "integrations.token_list": STAFF_ADMINS,
    "integrations.new_token": STAFF_ADMINS,
    "integrations.revoke": STAFF_ADMINS,
    # Webhook secrets (the chatbot webhook's signing keys).
    "integrations.webhook_secret_list": STAFF_ADMINS,
    "integrations.new_webhook_secret": STAFF_ADMINS,
    "integrations.rotate_webhook_secret": STAFF_ADMINS,
    "integrations.retire_webhook_secret": STAFF_ADMINS,
    # The agent's own calls (the screen pop and the page it degrades to): whoever takes calls.
    "calls.live_call": CONTACT_LOGGERS,
    "calls.recent_calls": CONTACT_LOGGERS,
    # Chatbot handovers: front-line work, like logging contacts.
    "intake.handover_queue": CONTACT_LOGGERS,
    "intake.handover_table": CONTACT_LOGGERS,
    "intake.claim_handover": CONTACT_LOGGERS,
    "intake.release_handover": CONTACT_LOGGERS,
    "intake.close_handover": CONTACT_LOGGERS,
    # Giving a handover to a named colleague spreads the queue: supervisors only.
    "intake.assign_handover": frozenset({"supervisor"}),
}

# Reachable by any logged-in staff member without a role permission (see the matrix above).
SELF_SERVICE_ENDPOINTS = frozenset(
    {
        "auth.home",
        "auth.logout",
        "auth.change_password",
        "auth.two_step_settings",
        "auth.new_passkey",
        "auth.own_sessions",
        "auth.add_passkey",
        "auth.remove_passkey",
        "auth.language",
    }
)

ACCESS_DOC = Path(__file__).resolve().parents[2] / "docs" / "access-matrix.md"


def test_public_endpoints_are_exactly_login_its_second_step_static_and_health():
    assert (
        frozenset(
            {
                "auth.login",
                "auth.second_step",
                "auth.enrol_second_step",
                "static",
                "health.health",
                "health.healthz",
                "health.readyz",
                "metrics.metrics",
            }
        )
        == PUBLIC_ENDPOINTS
    )


def console_endpoints(app):
    """Endpoints of the console; /api/ ones authenticate integrations, not staff roles."""
    return {rule.endpoint for rule in console_rules(app)}


def test_every_endpoint_is_classified_in_the_matrix(app):
    endpoints = console_endpoints(app)
    unclassified = sorted(endpoints - ROLE_MATRIX.keys())
    assert unclassified == [], f"add these endpoints to ROLE_MATRIX: {unclassified}"
    stale = sorted(ROLE_MATRIX.keys() - endpoints)
    assert stale == [], f"these ROLE_MATRIX endpoints no longer exist: {stale}"


def test_every_role_restricted_view_carries_its_permission_guard(app):
    """The view checks the role itself (`@requires`), not only the service behind it."""
    unguarded = []
    for endpoint in sorted(console_endpoints(app) - PUBLIC_ENDPOINTS - SELF_SERVICE_ENDPOINTS):
        view = app.view_functions[endpoint]
        permission = getattr(view, "required_permission", None)
        if not isinstance(permission, Permission):
            unguarded.append(endpoint)
            continue
        granted = {role.value for role, perms in ROLE_PERMISSIONS.items() if permission in perms}
        # The guard and the matrix must describe the same people.
        assert granted == ROLE_MATRIX.get(endpoint), endpoint
    assert unguarded == []


def test_anonymous_requests_are_sent_to_login_and_change_nothing(app, client, db_snapshot):
    before = db_snapshot()
    checked = 0
    problems = []
    for rule in console_rules(app):
        if rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        url = build_url(app, rule)
        for method in rule_methods(rule):
            response = client.open(url, method=method)
            checked += 1
            location = urlsplit(response.headers.get("Location", ""))
            if response.status_code != 302 or location.path != "/login":
                problems.append(f"{method} {url} ({rule.endpoint}): {response.status_code}")
    assert problems == []
    # The walk really covered the console (guards against an empty URL map passing silently).
    assert checked >= len(ROLE_MATRIX) - len(PUBLIC_ENDPOINTS)
    assert db_snapshot() == before


def test_anonymous_get_keeps_the_page_to_return_to(client):
    response = client.get("/audit?action=login")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/audit?action%3Dlogin"


def test_anonymous_post_does_not_offer_a_return_target(client):
    response = client.post("/customers/search", data={"kind": "name", "value": "Virtanen"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"


def test_public_endpoints_answer_anonymously(client):
    assert client.get("/login").status_code == 200
    assert client.get("/health").status_code == 200
    assert client.get("/static/console.css").status_code == 200


MATRIX_CASES = [(endpoint, role) for endpoint in sorted(ROLE_MATRIX) for role in ROLES]


@pytest.mark.parametrize(("endpoint", "role"), MATRIX_CASES)
def test_role_matrix(app, client, logged_in, console_objects, endpoint, role):
    rules = [rule for rule in console_rules(app) if rule.endpoint == endpoint]
    assert rules, f"{endpoint} is in ROLE_MATRIX but has no route"
    logged_in(role)
    allowed = role in ROLE_MATRIX[endpoint]
    for rule in rules:
        url = build_url(app, rule, console_objects)
        for method in rule_methods(rule):
            # An empty form for state-changing methods: validation may fail, the role check
            # must not (or must, for a denied role).
            response = client.open(url, method=method, data={})
            if allowed:
                assert response.status_code != 403, f"{role} refused: {method} {url}"
                assert response.status_code < 500
                # Being sent to the login page would be a refusal in disguise.
                if endpoint != "auth.logout":
                    location = urlsplit(response.headers.get("Location", "")).path
                    assert location != "/login", f"{role} logged out by {method} {url}"
            else:
                assert response.status_code == 403, f"{role} not refused: {method} {url}"


def documented_matrix():
    """The table in docs/access-matrix.md as {endpoint: roles}."""
    header: list[str] | None = None
    table: dict[str, frozenset[str]] = {}
    for line in ACCESS_DOC.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if header is None:
            header = [cell.lower() for cell in cells]
            continue
        if set("".join(cells)) <= set("-: "):
            continue
        match = re.fullmatch(r"`([\w.]+)`", cells[0])
        assert match, f"first column must be a `endpoint`: {line}"
        table[match.group(1)] = frozenset(
            role for role in ROLES if cells[header.index(role)] == "yes"
        )
    return table


def test_the_documented_matrix_matches_the_tested_one():
    assert documented_matrix() == ROLE_MATRIX
