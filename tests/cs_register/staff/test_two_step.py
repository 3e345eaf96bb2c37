"""Two-step login: enrolment at the first login, a code at every login, no code accepted
twice, one-time recovery codes, and no way round the second step."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta

import pyotp
import pytest
import sqlalchemy as sa

from app import create_app
from cs_register.audit.models import AuditAction
from cs_register.config import ConfigurationError, Settings
from cs_register.staff.models import StaffRecoveryCode, StaffSession, StaffUser
from tests.conftest import DEFAULT_PASSWORD
from tests.cs_register.staff.conftest import audit_actions, is_logged_in


@pytest.fixture
def required_app(settings, clock, database):
    return create_app(
        dataclasses.replace(settings, two_step_login="required"), clock=clock, database=database
    )


@pytest.fixture
def browser(required_app):
    return required_app.test_client()


@pytest.fixture
def agent(make_staff):
    return make_staff("agent", username="aila")


def _password_step(client, username="aila", password=DEFAULT_PASSWORD, **extra):
    return client.post("/login", data={"username": username, "password": password, **extra})


def _secret_on(page: str) -> str:
    found = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', page)
    assert found, "the enrolment page shows the key for typing in"
    return found.group(1)


def _enrol(client, clock) -> tuple[str, list[str]]:
    """Log in for the first time and enrol; the secret and the recovery codes."""
    assert _password_step(client).headers["Location"] == "/login/enrol"
    secret = _secret_on(client.get("/login/enrol").get_data(as_text=True))
    response = client.post("/login/enrol", data={"code": pyotp.TOTP(secret).at(clock.now)})
    assert response.status_code == 200
    codes = re.findall(
        r"<li><code>([0-9a-f]{6}-[0-9a-f]{6})</code></li>", response.get_data(as_text=True)
    )
    return secret, codes


def test_the_first_login_enrols_an_authenticator_before_any_session(
    browser, agent, clock, database
):
    response = _password_step(browser, next="/customers")
    assert response.headers["Location"] == "/login/enrol"
    assert not is_logged_in(browser)
    with database.session_factory() as session:
        assert session.scalars(sa.select(StaffSession)).all() == []

    page = browser.get("/login/enrol").get_data(as_text=True)
    secret = _secret_on(page)
    assert 'src="data:image/svg+xml' in page  # the QR code, as an image
    # The secret is stored encrypted, not as typed.
    with database.session_factory() as session:
        stored = session.get(StaffUser, agent.id).totp_pending_ciphertext
    assert stored is not None
    assert secret.encode() not in stored

    wrong = browser.post("/login/enrol", data={"code": "000000"})
    assert wrong.status_code == 422
    assert "That code is not right" in wrong.get_data(as_text=True)
    assert not is_logged_in(browser)

    done = browser.post("/login/enrol", data={"code": pyotp.TOTP(secret).at(clock.now)})
    assert done.status_code == 200
    codes = re.findall(
        r"<li><code>([0-9a-f]{6}-[0-9a-f]{6})</code></li>", done.get_data(as_text=True)
    )
    assert len(set(codes)) == 10
    assert 'href="/customers"' in done.get_data(as_text=True)
    assert done.headers["Cache-Control"] == "no-store"
    assert is_logged_in(browser)
    with database.session_factory() as session:
        hashes = session.scalars(sa.select(StaffRecoveryCode.code_hash)).all()
    assert len(hashes) == 10
    assert not set(codes) & set(hashes)
    assert len(audit_actions(database, AuditAction.TWO_STEP_ENROLLED)) == 1
    assert len(audit_actions(database, AuditAction.LOGIN)) == 1


def test_every_later_login_asks_for_a_code_and_never_takes_one_twice(
    browser, agent, clock, new_client, required_app
):
    secret, _ = _enrol(browser, clock)
    again = required_app.test_client()
    assert _password_step(again).headers["Location"] == "/login/second-step"
    assert not is_logged_in(again)
    # The code used to enrol, in the same 30 seconds: refused.
    replay = again.post("/login/second-step", data={"code": pyotp.TOTP(secret).at(clock.now)})
    assert replay.status_code == 401
    assert not is_logged_in(again)
    clock.advance(timedelta(seconds=30))
    fresh = again.post("/login/second-step", data={"code": pyotp.TOTP(secret).at(clock.now)})
    assert fresh.status_code == 302
    assert fresh.headers["Location"] == "/"
    assert is_logged_in(again)


def test_a_code_from_the_step_before_or_after_is_accepted_for_clock_drift(
    browser, agent, clock, required_app
):
    secret, _ = _enrol(browser, clock)
    clock.advance(timedelta(minutes=2))
    client = required_app.test_client()
    _password_step(client)
    late = pyotp.TOTP(secret).at(clock.now - timedelta(seconds=30))
    assert client.post("/login/second-step", data={"code": late}).status_code == 302
    clock.advance(timedelta(minutes=2))
    client = required_app.test_client()
    _password_step(client)
    too_old = pyotp.TOTP(secret).at(clock.now - timedelta(seconds=90))
    assert client.post("/login/second-step", data={"code": too_old}).status_code == 401


def test_a_recovery_code_works_once(browser, agent, clock, required_app, database):
    _, codes = _enrol(browser, clock)
    first = required_app.test_client()
    _password_step(first)
    assert (
        first.post("/login/second-step", data={"code": f"  {codes[0].upper()} "}).status_code == 302
    )
    (used,) = audit_actions(database, AuditAction.RECOVERY_CODE_USED)
    assert used.details == {"left": 9}
    second = required_app.test_client()
    _password_step(second)
    assert second.post("/login/second-step", data={"code": codes[0]}).status_code == 401
    assert not is_logged_in(second)


def test_five_wrong_codes_end_the_login_even_with_an_old_cookie(
    browser, agent, clock, required_app, database
):
    secret, _ = _enrol(browser, clock)
    clock.advance(timedelta(seconds=30))
    client = required_app.test_client()
    _password_step(client)
    cookie = client.get_cookie(required_app.config["SESSION_COOKIE_NAME"]).value
    for _ in range(5):
        assert client.post("/login/second-step", data={"code": "123456"}).status_code == 401
    # Sending the cookie from before the wrong codes again does not reset the count.
    client.set_cookie(required_app.config["SESSION_COOKIE_NAME"], cookie)
    right = client.post("/login/second-step", data={"code": pyotp.TOTP(secret).at(clock.now)})
    assert right.status_code == 302
    assert right.headers["Location"] == "/login"
    assert not is_logged_in(client)
    assert len(audit_actions(database, AuditAction.TWO_STEP_FAILED)) == 5


def test_the_password_step_expires_after_five_minutes(browser, agent, clock, required_app):
    secret, _ = _enrol(browser, clock)
    client = required_app.test_client()
    _password_step(client)
    clock.advance(timedelta(minutes=5, seconds=1))
    response = client.post("/login/second-step", data={"code": pyotp.TOTP(secret).at(clock.now)})
    assert response.headers["Location"] == "/login"
    assert not is_logged_in(client)


def test_the_console_stays_closed_between_the_two_steps(browser, agent):
    _password_step(browser)
    for path in ("/", "/customers", "/account/password", "/admin/staff"):
        response = browser.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")


def test_the_second_step_pages_need_the_password_step_first(browser, agent):
    for path in ("/login/second-step", "/login/enrol"):
        response = browser.post(path, data={"code": "123456"})
        assert response.headers["Location"] == "/login"


def test_with_optional_two_step_only_those_who_enrolled_are_asked(
    app, client, agent, make_staff, clock, browser
):
    _enrol(browser, clock)  # aila enrolled
    other = make_staff("agent", username="olli")
    assert _password_step(client, other.username).headers["Location"] == "/"
    fresh = app.test_client()
    assert _password_step(fresh).headers["Location"] == "/login/second-step"


def test_the_setting_is_checked(tmp_path) -> None:
    with pytest.raises(ConfigurationError, match="TWO_STEP_LOGIN"):
        Settings.from_env({"TWO_STEP_LOGIN": "sometimes", "CS_INSTANCE_PATH": str(tmp_path)})
    assert Settings.from_env({"CS_INSTANCE_PATH": str(tmp_path)}).two_step_login == "required"


def test_an_operator_resets_a_lost_second_factor_and_it_is_enrolled_again(
    browser, agent, clock, required_app, database
):
    _enrol(browser, clock)
    assert is_logged_in(browser)
    result = required_app.test_cli_runner().invoke(args=["users", "reset-two-step", "aila"])
    assert result.exit_code == 0, result.output
    assert not is_logged_in(browser)  # its sessions ended
    with database.session_factory() as session:
        user = session.get(StaffUser, agent.id)
        assert user.totp_secret_ciphertext is None
        assert session.scalars(sa.select(StaffRecoveryCode)).all() == []
    assert _password_step(required_app.test_client()).headers["Location"] == "/login/enrol"
    assert len(audit_actions(database, AuditAction.TWO_STEP_RESET)) == 1


def test_an_admin_alone_cannot_reset_a_second_factor(database, clock, agent, make_staff):
    from cs_register.errors import PermissionDenied
    from cs_register.staff import two_step
    from cs_register.staff.four_eyes import ApprovalRequired
    from cs_register.staff.models import StaffChangeKind, StaffChangeRequest
    from tests.support.context import make_context

    admin = make_staff("admin")
    with database.unit_of_work() as session:
        ctx = make_context(session, session.get(StaffUser, admin.id), clock.now)
        target = session.get(StaffUser, agent.id)
        with pytest.raises(ApprovalRequired):
            two_step.reset_two_step(ctx, target)
        # A request the same admin "approved" themselves is no approval.
        own = StaffChangeRequest(
            kind=StaffChangeKind.RESET_TWO_STEP,
            target_user_id=agent.id,
            requested_by_id=admin.id,
            requested_at=clock.now,
            outcome="approved",
            decided_by_id=admin.id,
        )
        with pytest.raises(PermissionDenied):
            two_step.reset_two_step(ctx, target, approval=own)
        agent_ctx = make_context(session, target, clock.now)
        with pytest.raises(PermissionDenied):
            two_step.reset_two_step(agent_ctx, session.get(StaffUser, admin.id))


def test_changing_the_password_later_needs_a_code_too(browser, agent, clock, required_app, login):
    secret, _ = _enrol(browser, clock)
    new = "seven unrelated words: kettle orbit"
    # Right after the two steps, the password and a fresh session are enough.
    assert 'name="code"' not in browser.get("/account/password").get_data(as_text=True)
    clock.advance(timedelta(minutes=6))
    page = browser.get("/account/password").get_data(as_text=True)
    assert 'name="code"' in page
    form = {"current_password": DEFAULT_PASSWORD, "new_password": new}
    refused = browser.post("/account/password", data={**form, "code": "000000"})
    assert refused.status_code == 422
    assert "Type the code your authenticator app shows now" in refused.get_data(as_text=True)
    done = browser.post(
        "/account/password", data={**form, "code": pyotp.TOTP(secret).at(clock.now)}
    )
    assert done.status_code == 302


def test_new_recovery_codes_need_the_password_and_a_code_and_replace_the_old(
    browser, agent, clock, database
):
    secret, old_codes = _enrol(browser, clock)
    page = browser.get("/account/two-step").get_data(as_text=True)
    assert '<strong id="codes-left">10</strong>' in page
    clock.advance(timedelta(seconds=30))
    code = pyotp.TOTP(secret).at(clock.now)
    wrong_password = browser.post(
        "/account/two-step", data={"current_password": "not my password", "code": code}
    )
    assert wrong_password.status_code == 422
    assert "Current password is not correct." in wrong_password.get_data(as_text=True)
    clock.advance(timedelta(seconds=30))
    renewed = browser.post(
        "/account/two-step",
        data={"current_password": DEFAULT_PASSWORD, "code": pyotp.TOTP(secret).at(clock.now)},
    )
    assert renewed.status_code == 200
    new_codes = re.findall(
        r"<li><code>([0-9a-f]{6}-[0-9a-f]{6})</code></li>", renewed.get_data(as_text=True)
    )
    assert len(new_codes) == 10
    assert not set(new_codes) & set(old_codes)
    assert len(audit_actions(database, AuditAction.RECOVERY_CODES_RENEWED)) == 1
    with database.session_factory() as session:
        assert len(session.scalars(sa.select(StaffRecoveryCode)).all()) == 10
