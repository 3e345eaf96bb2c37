"""The browser leg's closing line: where its screenshots are."""

from __future__ import annotations

import pytest

from tests.support.browser import SCREENSHOTS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    ran = any(
        "::test_every_page_the_tests_saw" in getattr(report, "nodeid", "")
        for reports in terminalreporter.stats.values()
        for report in reports
    )
    if ran and SCREENSHOTS.is_dir():
        shots = len(list(SCREENSHOTS.glob("*.png")))
        terminalreporter.write_line(
            f"Browser leg: {shots} full-page screenshots in {SCREENSHOTS}"
            f" (axe-core's findings: {SCREENSHOTS.parent / 'axe-report.txt'})"
        )
