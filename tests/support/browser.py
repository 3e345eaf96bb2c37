"""The browser leg's plumbing: Playwright for Python driving the system's Chromium.

Playwright's wheel carries its own driver; the browser is Debian's Chromium found on PATH, never
a downloaded build (`playwright install` is not run anywhere: CI has no network for it).
"""

from __future__ import annotations

import os
import shutil

# Belt and braces: nothing in the suite asks Playwright to fetch a browser, and this makes sure
# a stray `playwright install` in the same environment would not either.
os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")

# Without the background-networking switches Chromium keeps dialling hosts this closed network
# refuses; none of them matter to a page served from 127.0.0.1. --no-sandbox because CI runs
# the suite as root, where Chromium's sandbox refuses to start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def find_chromium() -> str | None:
    """The system Chromium on PATH (Debian names it `chromium`, Ubuntu `chromium-browser`)."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def have_playwright() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


def browser_leg_can_run() -> bool:
    """What `make test` asks before it runs the browser leg."""
    return find_chromium() is not None and have_playwright()
