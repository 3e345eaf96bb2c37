"""The agent console in a real browser (headless Chromium) against a real server process.

What the Flask test client cannot show: that the pages work as a person uses them. Forms post
and redirect, the CSRF tokens round-trip, the security policy blocks nothing the console
needs, and the masked and revealed identity code appear where they should.

Run with `pytest -m browser`. `make test` runs this leg when Chromium and chromedriver are
installed (CI installs them) and says loudly when it cannot.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest

from cs_register.config import generate_key
from tests.support.webdriver import Browser, chromium_session, find_browser

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a browser-typed passphrase"
IDENTITY_CODE = "131052-308T"
ERASED_IDENTITY_CODE = "010190-123M"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of the console server, and of the jobs run beside it."""
    instance = tmp_path_factory.mktemp("browser-instance")
    return {
        **os.environ,
        "CS_INSTANCE_PATH": str(instance),
        "DATABASE_URL": f"sqlite:///{instance / 'console.sqlite3'}",
        "SECRET_KEY": generate_key(),
        "DATA_ENCRYPTION_KEY": generate_key(),
        "BLIND_INDEX_KEY": generate_key(),
    }


@pytest.fixture(scope="module")
def server(server_env: dict[str, str]) -> Iterator[str]:
    """`flask run` in its own process, on a fresh SQLite database with an agent and a DPO."""
    env = server_env
    instance = Path(env["CS_INSTANCE_PATH"])
    port = _free_port()
    flask = [sys.executable, "-m", "flask", "--app", "app"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    for username, role in (("aino", "agent"), ("dora", "dpo")):
        subprocess.run(
            [*flask, "users", "create", username, "--role", role, "--password-stdin"],
            cwd=ROOT,
            env=env,
            input=f"{PASSWORD}\n",
            text=True,
            check=True,
            capture_output=True,
        )
    log = (instance / "server.log").open("wb")
    process = subprocess.Popen(
        [*flask, "run", "--host", "127.0.0.1", "--port", str(port), "--no-reload"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2):  # noqa: S310
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the console server did not start") from None
                time.sleep(0.2)  # a real process starting up
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    found = find_browser()
    if found is None:
        pytest.fail("Chromium and chromedriver are required for the browser tests (-m browser)")
    with chromium_session(*found) as session:
        yield session


def test_an_agent_logs_in_creates_a_customer_and_reveals_the_code(server, browser, tmp_path):
    browser.get(f"{server}/customers")
    # Not logged in: the console sends the browser to the login page.
    assert "/login" in browser.current_url
    # The first login sets up two-step login, then continues to the page asked for.
    _sign_in(browser, "aino")
    assert browser.current_url.endswith("/customers")

    browser.click("nav.mainnav a[href='/customers/new']")
    browser.wait_for("#given_names")
    browser.type("#given_names", "Aino")
    browser.type("#family_name", "Äijälä")
    browser.type("#identity_code", IDENTITY_CODE.lower() + " ")
    browser.type("#phone", "040 123 4567")
    browser.type("#email", "Aino.Aijala@Example.FI")
    browser.click("form.stacked button[type=submit]")
    browser.wait_for("dl.facts")

    page = browser.text()
    assert "Aino Äijälä" in page
    assert "131052-****" in page
    assert IDENTITY_CODE not in page
    assert IDENTITY_CODE not in browser.current_url

    browser.type("#purpose", "Verify identity on a contract call")
    browser.click("form[action$='/identity-code'] button[type=submit]")
    browser.wait_for("#revealed-identity-code")
    assert browser.text("#revealed-identity-code") == IDENTITY_CODE
    # The reveal is a POST answered in place: the code is never part of an address.
    assert IDENTITY_CODE not in browser.current_url
    browser.screenshot(tmp_path / "customer.png")
    assert (tmp_path / "customer.png").stat().st_size > 10_000


def test_search_by_accent_free_prefix_finds_the_customer(server, browser):
    browser.get(f"{server}/customers")
    browser.wait_for("#value")
    browser.select("#kind", "name")
    browser.type("#value", "aija")
    browser.click("form[action$='/customers/search'] button[type=submit]")
    browser.wait_for("table")
    assert "Äijälä" in browser.text("table")
    # Searches are POSTs: nothing typed ends up in the address bar or history.
    assert "aija" not in browser.current_url


def test_the_console_loads_without_security_policy_violations(server, browser):
    browser.console_messages()  # drop what earlier tests left
    for path in ("/customers", "/customers/new", "/contacts/new", "/contacts/unlinked"):
        browser.get(f"{server}{path}")
        browser.wait_for("main.page")
    problems = [
        entry["message"]
        for entry in browser.console_messages()
        if entry.get("level") == "SEVERE" or "Content Security Policy" in entry.get("message", "")
    ]
    assert problems == []
    # The stylesheet really applied (a blocked or missing one would leave the default colour).
    assert browser.css_value("header.topbar", "background-color") == "rgba(23, 49, 79, 1)"


# How far a page reaches past the window's right edge, and the navigation links that do.
_OVERFLOW = """
const width = document.documentElement.clientWidth;
const outside = [...document.querySelectorAll("nav.mainnav a, .whoami a, .whoami button")]
    .filter((link) => link.getBoundingClientRect().right > width + 1)
    .map((link) => link.textContent.trim());
return {reach: document.documentElement.scrollWidth - width, outside: outside};
"""


def test_the_console_fits_a_390_pixel_wide_phone(server, browser, tmp_path):
    _log_in_as(browser, server, "aino")
    original = browser.window_size
    browser.resize(390, 844)
    try:
        for path in ("/customers", "/customers/new", "/contacts/new", "/contacts/unlinked"):
            browser.get(f"{server}{path}")
            browser.wait_for("main.page")
            fit = browser.execute(_OVERFLOW)
            assert fit == {"reach": 0, "outside": []}, path
        browser.screenshot(tmp_path / "narrow.png")
    finally:
        browser.resize(*original)


def _log_in_as(browser: Browser, server: str, username: str) -> None:
    browser.get(f"{server}/customers")
    if "/login" not in browser.current_url:
        browser.click("form[action='/logout'] button")
        browser.wait_for("#username")
    _sign_in(browser, username)


# Each account's unused recovery codes, from its enrolment: a later login in the same 30
# seconds could not use the authenticator's code again (no code is accepted twice).
_RECOVERY_CODES: dict[str, list[str]] = {}


def _sign_in(browser: Browser, username: str) -> None:
    """The password, then the second step: enrolment at the first login, later a code."""
    browser.type("#username", username)
    browser.type("#password", PASSWORD)
    browser.click("form button[type=submit]")
    browser.wait_for("#code")
    if "/login/enrol" in browser.current_url:
        assert browser.find_all("img#totp-qr")
        secret = browser.text("#totp-secret")
        browser.type("#code", pyotp.TOTP(secret).now())
        browser.click("form button[type=submit]")
        browser.wait_for("#recovery-codes")
        codes = re.findall(r"[0-9a-f]{6}-[0-9a-f]{6}", browser.text("#recovery-codes"))
        assert len(codes) == 10
        _RECOVERY_CODES[username] = codes
        browser.click("a.button")
    else:
        assert "/login/second-step" in browser.current_url
        browser.type("#code", _RECOVERY_CODES[username].pop())
        browser.click("form button[type=submit]")
    browser.wait_for("nav.mainnav")


def test_an_access_request_goes_from_the_agent_to_the_dpos_download(server, server_env, browser):
    # The agent, on a call: the customer asks for a copy of their data.
    _log_in_as(browser, server, "aino")
    browser.select("#kind", "name")
    browser.type("#value", "Äijälä")
    browser.click("form[action$='/customers/search'] button[type=submit]")
    browser.wait_for("table a[href^='/customers/']")
    browser.click("table a[href^='/customers/']")
    browser.wait_for("#privacy-requests")
    browser.click("#privacy-requests a.button")
    browser.wait_for("#description")
    browser.select("#kind", "access")
    browser.select("#channel", "phone")
    browser.click("input[name=verified][value=name]")
    browser.type("#description", "A copy of everything held about me, recordings included.")
    browser.click("form.stacked button[type=submit]")
    browser.wait_for("#privacy-requests")
    assert "the data-protection officer answers it by" in browser.text()

    # The DPO: the queue, the case, the download built by the periodic job.
    _log_in_as(browser, server, "dora")
    browser.click("nav.mainnav a[href='/privacy/requests']")
    browser.wait_for("#privacy-queue")
    assert "Aino Äijälä" in browser.text("#privacy-queue")
    browser.click("#privacy-queue a")
    browser.wait_for("#case")
    browser.click("form[action$='/start'] button")
    browser.wait_for("#exports")
    browser.click("#exports form button[type=submit]")
    browser.wait_for("#exports progress")
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from jobs.privacy import privacy_exports_job; privacy_exports_job()",
        ],
        cwd=ROOT,
        env=server_env,
        check=True,
        capture_output=True,
    )
    browser.get(browser.current_url)
    browser.wait_for("#exports a[href$='/download']")
    assert "Ready" in browser.text("#exports")
    browser.type("#answer", "Your data is in the download we sent you.")
    browser.click("#complete button[type=submit]")
    # The case page before and after the submit both show a status: wait for the new one.
    browser.wait_for_text("#case-status", "Completed")
    assert IDENTITY_CODE not in browser.current_url


def test_an_erasure_request_goes_from_the_agent_to_a_receipt_and_the_person_is_gone(
    server, server_env, browser
):
    # The agent takes a new customer's call; they ask to be erased.
    _log_in_as(browser, server, "aino")
    browser.click("nav.mainnav a[href='/customers/new']")
    browser.wait_for("#given_names")
    browser.type("#given_names", "Eero")
    browser.type("#family_name", "Poistettava")
    browser.type("#identity_code", ERASED_IDENTITY_CODE)
    browser.type("#phone", "050 765 4321")
    browser.click("form.stacked button[type=submit]")
    browser.wait_for("#privacy-requests")
    browser.click("#privacy-requests a.button")
    browser.wait_for("#description")
    browser.select("#kind", "erasure")
    browser.select("#channel", "phone")
    browser.click("input[name=verified][value=identity_code]")
    browser.type("#description", "Wants every record of them removed.")
    browser.click("form.stacked button[type=submit]")
    browser.wait_for("#privacy-requests")

    # The DPO confirms and erases; the periodic job carries it out.
    _log_in_as(browser, server, "dora")
    browser.get(f"{server}/privacy/requests?kind=erasure")
    browser.wait_for("#privacy-queue")
    assert "Eero Poistettava" in browser.text("#privacy-queue")
    browser.click("#privacy-queue a")
    browser.wait_for("#erasure form")
    browser.click("#erasure input[name=confirm]")
    browser.click("#erasure button[type=submit]")
    browser.wait_for("#erasure-under-way")
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from jobs.privacy import privacy_erasures_job; privacy_erasures_job()",
        ],
        cwd=ROOT,
        env=server_env,
        check=True,
        capture_output=True,
    )
    browser.get(browser.current_url)
    browser.wait_for("#erasure-erased")
    assert "Customer record" in browser.text("#erasure-erased")
    assert browser.text("#case-status") == "Completed"
    assert "Poistettava" not in browser.text()

    # The agent finds nobody any more.
    _log_in_as(browser, server, "aino")
    browser.select("#kind", "name")
    browser.type("#value", "Poistettava")
    browser.click("form[action$='/customers/search'] button[type=submit]")
    browser.wait_for("main")
    assert "No customer found" in browser.text()


def test_an_agent_records_a_marketing_prohibition_on_the_customer_page(server, browser):
    _log_in_as(browser, server, "aino")
    browser.click("nav.mainnav a[href='/customers/new']")
    browser.wait_for("#given_names")
    browser.type("#given_names", "Kaisu")
    browser.type("#family_name", "Kieltäjä")
    browser.click("form.stacked button[type=submit]")
    browser.wait_for("#choices")
    browser.select("#choice", "prohibition:direct_marketing")
    browser.select("#channel", "phone")
    browser.click("#choices form.stacked button[type=submit]")
    browser.wait_for("#choices p.flash-warning")
    assert "Direct marketing is prohibited" in browser.text("#choices")
    assert "In force" in browser.text("#choices table")


def test_the_statistics_charts_draw_from_our_own_files_under_the_policy(
    server, server_env, browser
):
    # Two days of counts, as the nightly roll-up leaves them.
    database = server_env["DATABASE_URL"].removeprefix("sqlite:///")
    seed = (
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.executemany("
        '"INSERT INTO daily_counts (day, metric, dimension, count) VALUES '
        "(date('now', ?), 'contacts', ?, ?)\", "
        "[('-3 days', 'phone', 12), ('-3 days', 'email', 3), ('-4 days', 'phone', 7)]); "
        "c.commit()"
    )
    subprocess.run([sys.executable, "-c", seed, database], check=True, capture_output=True)
    _log_in_as(browser, server, "dora")
    browser.console_messages()  # drop what earlier pages left
    browser.click("nav.mainnav a[href='/statistics']")
    browser.wait_for("canvas.statistics-chart[data-drawn='true']")
    problems = [
        entry["message"]
        for entry in browser.console_messages()
        if entry.get("level") == "SEVERE" or "Content Security Policy" in entry.get("message", "")
    ]
    assert problems == []
    assert "Contacts per channel" in browser.text("#figure-contacts")


def test_logging_out_returns_to_the_login_page_and_the_console_is_closed(server, browser):
    browser.get(f"{server}/customers")
    browser.wait_for("nav.mainnav")
    browser.click("form[action='/logout'] button")
    browser.wait_for("#username")
    browser.get(f"{server}/customers")
    assert "/login" in browser.current_url


def test_a_staff_member_adds_a_passkey_and_logs_in_with_it(server, server_env, browser):
    """Enrol the authenticator app, add a passkey from Chromium's virtual authenticator, log
    out, and answer the second step with the passkey. Passkeys need a host name, not an IP
    address, so this one goes to the same server as `localhost`."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "app",
            "users",
            "create",
            "pia",
            "--role",
            "agent",
            "--password-stdin",
        ],
        cwd=ROOT,
        env=server_env,
        input=f"{PASSWORD}\n",
        text=True,
        check=True,
        capture_output=True,
    )
    base = server.replace("127.0.0.1", "localhost")
    authenticator = browser.add_virtual_authenticator()
    browser.console_messages()
    browser.get(f"{base}/login")
    browser.wait_for("#username")
    _sign_in(browser, "pia")

    browser.get(f"{base}/account/two-step")
    browser.type("#passkey-name", "Virtual key")
    browser.type("#passkey-password", PASSWORD)
    # The app's code was used at enrolment moments ago (and no code works twice): a recovery
    # code proves it is Pia instead.
    browser.type("#passkey-code", _RECOVERY_CODES["pia"].pop())
    browser.click("#add-passkey button[type=submit]")
    browser.wait_for("#create-passkey")
    browser.click("#create-passkey")
    browser.wait_for("#passkeys table")
    assert "Passkey added" in browser.text("main")
    assert "Virtual key" in browser.text("#passkeys")
    assert len(browser.credentials(authenticator)) == 1

    browser.click("form[action='/logout'] button")
    browser.wait_for("#username")
    browser.type("#username", "pia")
    browser.type("#password", PASSWORD)
    browser.click("form button[type=submit]")
    browser.wait_for("#use-passkey")
    browser.click("#use-passkey")
    browser.wait_for("nav.mainnav")
    assert "/login" not in browser.current_url
    problems = [
        entry["message"]
        for entry in browser.console_messages()
        if (entry.get("level") == "SEVERE" or "Content Security Policy" in entry["message"])
        # A new origin asks for its icon once; the console has none.
        and "/favicon.ico" not in entry["message"]
    ]
    assert problems == []
    browser.click("form[action='/logout'] button")
    browser.wait_for("#username")
