"""Passkeys as a second factor: added after proving oneself again, answering the second step
in place of a code, and refused for a wrong challenge, origin, account or counter."""

from __future__ import annotations

import dataclasses
import html
import re
from datetime import timedelta

import pyotp
import pytest
import sqlalchemy as sa

from app import create_app
from cs_register.audit.models import AuditAction
from cs_register.staff.models import StaffPasskey, StaffUser
from tests.conftest import DEFAULT_PASSWORD
from tests.cs_register.staff.conftest import audit_actions, is_logged_in
from tests.support.soft_authenticator import SoftAuthenticator, b64url


@pytest.fixture
def required_app(settings, clock, database):
    return create_app(
        dataclasses.replace(settings, two_step_login="required"), clock=clock, database=database
    )


@pytest.fixture
def new_browser(required_app):
    return required_app.test_client


@pytest.fixture
def agent(make_staff):
    return make_staff("agent", username="aila")


def _options(page: str) -> str:
    found = re.search(r'data-passkey-options="([^"]+)"', page)
    assert found, "the page carries the passkey ceremony's options"
    return html.unescape(found.group(1))


class Person:
    """One staff member with an authenticator app, working through the console."""

    def __init__(self, client, clock, username="aila"):
        self.client, self.clock, self.username = client, clock, username
        self.secret = ""

    def password_step(self):
        return self.client.post(
            "/login", data={"username": self.username, "password": DEFAULT_PASSWORD}
        )

    def code(self, step: int = 0) -> str:
        return pyotp.TOTP(self.secret).at(self.clock.now + timedelta(seconds=30 * step))

    def enrol(self):
        assert self.password_step().headers["Location"] == "/login/enrol"
        page = self.client.get("/login/enrol").get_data(as_text=True)
        self.secret = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', page).group(1)
        assert self.client.post("/login/enrol", data={"code": self.code()}).status_code == 200
        self.clock.advance(timedelta(seconds=30))  # the next code is a new one

    def add_passkey(self, authenticator, name="Work laptop"):
        page = self.client.post(
            "/account/passkeys/new",
            data={"current_password": DEFAULT_PASSWORD, "code": self.code(), "name": name},
        )
        assert page.status_code == 200, page.get_data(as_text=True)
        self.clock.advance(timedelta(seconds=30))
        credential = authenticator.create(_options(page.get_data(as_text=True)))
        return self.client.post("/account/passkeys", data={"credential": credential})


@pytest.fixture
def aila(new_browser, clock, agent):
    person = Person(new_browser(), clock)
    person.enrol()
    return person


@pytest.fixture
def with_passkey(aila):
    authenticator = SoftAuthenticator()
    response = aila.add_passkey(authenticator)
    assert response.status_code == 303
    return aila, authenticator


def _passkeys(database):
    with database.unit_of_work() as session:
        return session.scalars(sa.select(StaffPasskey)).all()


def test_a_passkey_is_added_after_the_password_and_a_code(aila, database, agent):
    authenticator = SoftAuthenticator()
    response = aila.add_passkey(authenticator, name="  Work   laptop ")
    assert response.headers["Location"] == "/account/two-step"
    (stored,) = _passkeys(database)
    assert (stored.user_id, stored.name, stored.credential_id) == (
        agent.id,
        "Work laptop",
        authenticator.credential_id,
    )
    page = aila.client.get("/account/two-step").get_data(as_text=True)
    assert "Work laptop" in page
    (event,) = audit_actions(database, AuditAction.PASSKEY_ADDED)
    assert event.details == {"passkeys": 1}


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"current_password": "wrong password!", "code": None}, "Current password is not"),
        ({"current_password": DEFAULT_PASSWORD, "code": "000000"}, "Type the code"),
    ],
)
def test_adding_a_passkey_needs_the_password_and_a_current_code(aila, database, form, message):
    data = {**form, "code": form["code"] or aila.code()}
    refused = aila.client.post("/account/passkeys/new", data=data)
    assert refused.status_code == 422
    assert message in refused.get_data(as_text=True)
    assert "data-passkey-options" not in refused.get_data(as_text=True)
    # Without that step no ceremony was started, so no answer is accepted either.
    late = aila.client.post("/account/passkeys", data={"credential": "{}"})
    assert late.status_code == 422
    assert _passkeys(database) == []


def test_a_ceremony_older_than_two_minutes_is_refused(aila, database, clock):
    page = aila.client.post(
        "/account/passkeys/new", data={"current_password": DEFAULT_PASSWORD, "code": aila.code()}
    )
    clock.advance(timedelta(seconds=121))
    credential = SoftAuthenticator().create(_options(page.get_data(as_text=True)))
    response = aila.client.post("/account/passkeys", data={"credential": credential})
    assert response.status_code == 422
    assert "took too long" in response.get_data(as_text=True)
    assert _passkeys(database) == []


def test_a_passkey_made_for_another_site_is_refused(aila, database):
    page = aila.client.post(
        "/account/passkeys/new", data={"current_password": DEFAULT_PASSWORD, "code": aila.code()}
    )
    credential = SoftAuthenticator().create(
        _options(page.get_data(as_text=True)), origin="https://cs-register.example.net"
    )
    response = aila.client.post("/account/passkeys", data={"credential": credential})
    assert response.status_code == 422
    assert "could not be checked" in response.get_data(as_text=True)
    assert _passkeys(database) == []


def _login_with(person, authenticator, **get_options):
    person.client.post("/logout")
    assert person.password_step().headers["Location"] == "/login/second-step"
    page = person.client.get("/login/second-step").get_data(as_text=True)
    answer = authenticator.get(_options(page), **get_options)
    return person.client.post("/login/second-step", data={"credential": answer}), answer


def test_a_passkey_answers_the_second_step(with_passkey, database, clock):
    person, authenticator = with_passkey
    response, _ = _login_with(person, authenticator)
    assert response.status_code == 302
    assert is_logged_in(person.client)
    (stored,) = _passkeys(database)
    assert stored.sign_count == authenticator.sign_count == 1
    assert stored.last_used_at == clock.now
    assert len(audit_actions(database, AuditAction.PASSKEY_USED)) == 1


def test_an_answer_is_used_once(with_passkey, database):
    person, authenticator = with_passkey
    _, answer = _login_with(person, authenticator)
    person.client.post("/logout")
    person.password_step()
    person.client.get("/login/second-step")  # a new challenge
    replayed = person.client.post("/login/second-step", data={"credential": answer})
    assert replayed.status_code == 401
    assert not is_logged_in(person.client)
    assert audit_actions(database, AuditAction.TWO_STEP_FAILED)[-1].details == {"by": "passkey"}


def test_a_counter_that_goes_back_is_a_cloned_key(with_passkey, database):
    person, authenticator = with_passkey
    _login_with(person, authenticator, count=5)
    response, _ = _login_with(person, authenticator, count=3)
    assert response.status_code == 401
    assert not is_logged_in(person.client)


def test_someone_elses_passkey_does_not_answer_for_me(
    with_passkey, new_browser, clock, make_staff, database
):
    person, authenticator = with_passkey
    make_staff("agent", username="bea")
    other = Person(new_browser(), clock, username="bea")
    other.enrol()
    other_key = SoftAuthenticator()
    other.add_passkey(other_key)
    # Bea's login offers Bea's passkeys only; an answer from Aila's is refused.
    other.client.post("/logout")
    other.password_step()
    page = other.client.get("/login/second-step").get_data(as_text=True)
    # Aila's key answers Bea's challenge, as if the server had offered it.
    options = _options(page).replace(
        b64url(other_key.credential_id), b64url(authenticator.credential_id)
    )
    forged = SoftAuthenticator(key=authenticator.key, credential_id=authenticator.credential_id)
    answer = forged.get(options)
    response = other.client.post("/login/second-step", data={"credential": answer})
    assert response.status_code == 401
    assert not is_logged_in(other.client)


def test_a_late_passkey_answer_is_refused_without_counting_as_wrong(with_passkey, clock, database):
    person, authenticator = with_passkey
    person.client.post("/logout")
    person.password_step()
    page = person.client.get("/login/second-step").get_data(as_text=True)
    clock.advance(timedelta(seconds=121))
    answer = authenticator.get(_options(page))
    response = person.client.post("/login/second-step", data={"credential": answer})
    assert response.status_code == 401
    assert "did not answer in time" in response.get_data(as_text=True)
    assert not is_logged_in(person.client)
    assert audit_actions(database, AuditAction.TWO_STEP_FAILED) == []


def test_the_code_still_works_beside_a_passkey(with_passkey):
    person, _ = with_passkey
    person.client.post("/logout")
    person.password_step()
    assert person.client.post("/login/second-step", data={"code": person.code()}).status_code == 302
    assert is_logged_in(person.client)


def test_removing_a_passkey_needs_the_password_and_a_code(with_passkey, database):
    person, _ = with_passkey
    (stored,) = _passkeys(database)
    url = f"/account/passkeys/{stored.public_id}/remove"
    for form in (
        {"current_password": "wrong password!", "code": person.code()},
        {"current_password": DEFAULT_PASSWORD, "code": "000000"},
        {"current_password": DEFAULT_PASSWORD},
    ):
        refused = person.client.post(url, data=form)
        assert refused.status_code == 422
    assert len(_passkeys(database)) == 1
    removed = person.client.post(
        url, data={"current_password": DEFAULT_PASSWORD, "code": person.code()}
    )
    assert removed.headers["Location"] == "/account/two-step"
    assert _passkeys(database) == []
    assert audit_actions(database, AuditAction.PASSKEY_REMOVED)[0].details == {"passkeys": 0}


def test_nobody_removes_someone_elses_passkey(with_passkey, database, client, logged_in):
    (stored,) = _passkeys(database)
    logged_in("agent")
    response = client.post(
        f"/account/passkeys/{stored.public_id}/remove",
        data={"current_password": DEFAULT_PASSWORD, "code": "123456"},
    )
    assert response.status_code == 404
    assert len(_passkeys(database)) == 1


def test_a_two_step_reset_forgets_the_passkeys(with_passkey, app, database):
    result = app.test_cli_runner().invoke(args=["users", "reset-two-step", "aila"])
    assert result.exit_code == 0, result.output
    assert _passkeys(database) == []
    with database.unit_of_work() as session:
        assert (
            session.scalar(sa.select(StaffUser).where(StaffUser.username == "aila")).totp_enabled_at
            is None
        )


@pytest.mark.parametrize(
    "credential", ["[" * 30_000, "not json", '{"rawId": 7}', '{"rawId": "%%%"}']
)
def test_a_malformed_passkey_answer_is_refused_not_a_crash(with_passkey, database, credential):
    person, _ = with_passkey
    person.client.post("/logout")
    person.password_step()
    person.client.get("/login/second-step")
    response = person.client.post("/login/second-step", data={"credential": credential})
    assert response.status_code == 401
    assert not is_logged_in(person.client)
    # And when adding one.
    person.client.post("/login/second-step", data={"code": person.code()})
    person.clock.advance(timedelta(seconds=30))
    person.client.post(
        "/account/passkeys/new", data={"current_password": DEFAULT_PASSWORD, "code": person.code()}
    )
    added = person.client.post("/account/passkeys", data={"credential": credential})
    assert added.status_code == 422
    assert len(_passkeys(database)) == 1
