"""A small W3C WebDriver client for the browser tests: chromedriver driving Debian's Chromium.

Only the handful of commands the console tests need, over the standard library's HTTP client,
so the suite needs no extra package to talk to a real browser.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ELEMENT_KEY = "element-6066-11e4-a52e-4f735466cecf"
# Without the background-networking switches Chromium keeps dialling hosts this closed
# network refuses; none of them matter to a page served from 127.0.0.1.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
]


class WebDriverError(RuntimeError):
    pass


# What chromedriver answers when an element found a moment ago belongs to a page the browser
# has since left (a click submitted a form and the next page replaced the old one).
_STALE_ELEMENT_SIGNS = ("stale element reference", "does not belong to the document")
# How long a command on a just-found element is retried while a navigation settles.
SETTLE_SECONDS = 10.0


def find_browser() -> tuple[str, str] | None:
    """(chromium, chromedriver) paths, or None when either is missing."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Browser:
    def __init__(self, endpoint: str, session_id: str) -> None:
        self._endpoint = endpoint
        self.session_id = session_id

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - loopback only
            f"{self._endpoint}/session/{self.session_id}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback
                return json.loads(response.read())["value"]
        except urllib.error.HTTPError as error:
            raise WebDriverError(error.read().decode(errors="replace")) from None

    def get(self, url: str) -> None:
        self._call("POST", "/url", {"url": url})

    @property
    def current_url(self) -> str:
        return str(self._call("GET", "/url"))

    @property
    def title(self) -> str:
        return str(self._call("GET", "/title"))

    def find(self, css: str) -> str:
        found = self._call("POST", "/element", {"using": "css selector", "value": css})
        return str(found[ELEMENT_KEY])

    def find_all(self, css: str) -> list[str]:
        found = self._call("POST", "/elements", {"using": "css selector", "value": css})
        return [str(item[ELEMENT_KEY]) for item in found]

    def _on_element(
        self, css: str, method: str, command: str, body: dict[str, Any] | None = None
    ) -> Any:
        """Find `css` and send `command` to it, finding it again if the page was replaced
        between the two (the element then belongs to the page the browser just left)."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            try:
                return self._call(method, f"/element/{self.find(css)}/{command}", body)
            except WebDriverError as error:
                stale = any(sign in str(error) for sign in _STALE_ELEMENT_SIGNS)
                if not stale or time.monotonic() > deadline:
                    raise
            time.sleep(0.1)  # polling a real browser while it loads the next page

    def type(self, css: str, text: str) -> None:
        self._on_element(css, "POST", "value", {"text": text})

    def select(self, css: str, value: str) -> None:
        self.click(f"{css} option[value='{value}']")

    def click(self, css: str) -> None:
        self._on_element(css, "POST", "click", {})

    def text(self, css: str = "body") -> str:
        return str(self._on_element(css, "GET", "text"))

    def css_value(self, css: str, prop: str) -> str:
        return str(self._on_element(css, "GET", f"css/{prop}"))

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self._call("GET", "/screenshot")))

    def console_messages(self) -> list[dict[str, Any]]:
        """Browser console entries since the last call (CSP violations show up here)."""
        entries: list[dict[str, Any]] = self._call("POST", "/se/log", {"type": "browser"})
        return entries

    def execute(self, script: str, *args: Any) -> Any:
        """Run `script` (a function body) in the page and return what it returns."""
        return self._call("POST", "/execute/sync", {"script": script, "args": list(args)})

    @property
    def window_size(self) -> tuple[int, int]:
        rect = self._call("GET", "/window/rect")
        return int(rect["width"]), int(rect["height"])

    def resize(self, width: int, height: int) -> None:
        self._call("POST", "/window/rect", {"width": width, "height": height})

    def add_virtual_authenticator(self) -> str:
        """A WebAuthn authenticator inside the browser (W3C WebAuthn's WebDriver extension)
        that makes and uses passkeys without a person touching it."""
        return str(
            self._call(
                "POST",
                "/webauthn/authenticator",
                {
                    "protocol": "ctap2",
                    "transport": "usb",
                    "hasResidentKey": False,
                    "hasUserVerification": True,
                    "isUserConsenting": True,
                    "isUserVerified": True,
                },
            )
        )

    def credentials(self, authenticator_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._call(
            "GET", f"/webauthn/authenticator/{authenticator_id}/credentials"
        )
        return found

    def wait_for(self, css: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            elements = self.find_all(css)
            if elements:
                return elements[0]
            if time.monotonic() > deadline:
                raise WebDriverError(f"no element matches {css!r}")
            time.sleep(0.1)  # polling a real browser, not waiting on our own clock

    def wait_for_text(self, css: str, expected: str, timeout: float = 10.0) -> None:
        """Wait until `css` shows exactly `expected`: after a form is submitted the old page
        may still be on screen with an element of the same name for a moment."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.find_all(css)
            shown = None
            if found:
                with contextlib.suppress(WebDriverError):
                    shown = str(self._call("GET", f"/element/{found[0]}/text"))
            if shown == expected:
                return
            if time.monotonic() > deadline:
                raise WebDriverError(f"{css!r} shows {shown!r}, not {expected!r}")
            time.sleep(0.1)  # polling a real browser, not waiting on our own clock


@contextlib.contextmanager
def chromium_session(browser_path: str, driver_path: str) -> Iterator[Browser]:
    port = _free_port()
    driver = subprocess.Popen(
        [driver_path, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/status", timeout=2):  # noqa: S310
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)  # chromedriver is a real process starting up
        capabilities = {
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {"binary": browser_path, "args": CHROMIUM_ARGS},
                    "goog:loggingPrefs": {"browser": "ALL"},
                }
            }
        }
        request = urllib.request.Request(  # noqa: S310 - loopback only
            f"{endpoint}/session",
            data=json.dumps(capabilities).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback
            session_id = json.loads(response.read())["value"]["sessionId"]
        browser = Browser(endpoint, session_id)
        try:
            yield browser
        finally:
            with contextlib.suppress(OSError, WebDriverError):
                browser._call("DELETE", "")
    finally:
        driver.terminate()
        try:
            driver.wait(timeout=10)
        except subprocess.TimeoutExpired:
            driver.kill()
