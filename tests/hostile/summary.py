"""Prints the schemathesis run's numbers in pytest's terminal summary.

Loaded from tests/conftest.py (``pytest_plugins``) so the hooks also run in the xdist
controller, which never imports tests/hostile/conftest.py; the numbers travel from the
worker in the test report's ``user_properties``.
"""

import json

SCHEMATHESIS_PROPERTY = "schemathesis_summary"
_summaries: list[dict] = []


def pytest_runtest_logreport(report):
    # Runs in the controller under xdist too: the summary travels in user_properties.
    if report.when != "call":
        return
    for name, value in report.user_properties:
        if name == SCHEMATHESIS_PROPERTY:
            _summaries.append(json.loads(value))


def pytest_terminal_summary(terminalreporter):
    if not _summaries:
        return
    terminalreporter.section("schemathesis summary")
    for summary in _summaries:
        by_check = ", ".join(f"{k}={v}" for k, v in sorted(summary["failures_by_check"].items())) or "none"
        terminalreporter.write_line(
            f"[{summary['auth']}] operations tested: {summary['operations']}, test cases: {summary['cases']}, "
            f"responses 5xx: {summary['server_errors']}, failures: {summary['failures']} ({by_check}), "
            f"{summary['seconds']:.1f}s"
        )
