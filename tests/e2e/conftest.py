"""The browser leg's closing line: where its screenshots are."""

from __future__ import annotations

import pytest

from tests.support.browser import SCREENSHOTS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    ran = any(
        "::test_every_page_the_tests_saw" in getattr(report, "nodeid", "")
        # Not "deselected": a run that only selected other tests shot nothing.
        for outcome in ("passed", "failed", "error")
        for report in terminalreporter.stats.get(outcome, [])
    )
    if ran and SCREENSHOTS.is_dir():
        shots = len(list(SCREENSHOTS.glob("*.png")))
        terminalreporter.write_line(
            f"Browser leg: {shots} full-page screenshots in {SCREENSHOTS}"
            f" (axe-core's findings: {SCREENSHOTS.parent / 'axe-report.txt'})"
        )
