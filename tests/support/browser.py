"""The browser leg's plumbing: Playwright for Python driving the system's Chromium.

Playwright's wheel carries its own driver; the browser is Debian's Chromium found on PATH, never
a downloaded build (`playwright install` is not run anywhere: CI has no network for it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Page

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
    # The recording's player is started from the test's script, not a person's click.
    "--autoplay-policy=no-user-gesture-required",
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


ROOT = Path(__file__).resolve().parents[2]
# Fetched by `make tests/e2e/vendor/axe.min.js` (a prerequisite of `make test`), which pins
# axe-core's version and checks its SHA-256; untracked.
AXE_JS = ROOT / "tests" / "e2e" / "vendor" / "axe.min.js"
# Full-page screenshots of every page the accessibility scan visits: kept after the run, for CI
# to keep as an artefact folder (and for a person to look at what the browser saw).
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
# What fails the scan: axe's two worst impact levels. "moderate" and "minor" are reported by
# axe too, but are advisory here.
FAILING_IMPACTS = frozenset({"serious", "critical"})

_RUN_AXE = """async () => {
    const results = await axe.run(document, {resultTypes: ["violations"]});
    return results.violations.map((violation) => ({
        id: violation.id,
        impact: violation.impact,
        help: violation.help,
        targets: violation.nodes.map((node) => node.target.join(" ")),
    }));
}"""


def axe_script() -> Path:
    """axe-core, fetched once through the Makefile's target when a bare `pytest -m browser`
    runs before `make test` ever has."""
    if not AXE_JS.exists():
        subprocess.run(
            ["make", "--no-print-directory", str(AXE_JS.relative_to(ROOT))], cwd=ROOT, check=True
        )
    return AXE_JS


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now. The page's own Content-Security-Policy
    forbids the injected script, so `page` must belong to a context made with bypass_csp."""
    page.add_script_tag(path=axe_script())
    found: list[dict[str, Any]] = page.evaluate(_RUN_AXE)
    return found


def describe(violations: list[dict[str, Any]]) -> list[str]:
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} -> "
        + "; ".join(violation["targets"])
        for violation in violations
    ]
