import copy

import pytest

from stewardship import compat
from stewardship.validation import clear_cache

from .factories import BASE_DOC


class FakeReport:
    def __init__(self, findings):
        self.findings = findings
        self.compatible = all(f["compatible"] for f in findings)
        self.timed_out = False

    def to_dict(self):
        return {"compatible": self.compatible, "timed_out": False, "findings": self.findings, "checked_versions": [1]}


@pytest.fixture
def fake_engine(monkeypatch):
    """Replace the compatibility engine with one returning the findings the test sets,
    so workflow tests do not depend on the engine's rules (tested on their own)."""

    class Engine:
        findings = []
        calls = []

    def check(**kwargs):
        Engine.calls.append(kwargs)
        return FakeReport(copy.deepcopy(Engine.findings))

    monkeypatch.setattr(compat, "check", check)
    return Engine


@pytest.fixture(autouse=True)
def _fresh_validator_cache():
    clear_cache()
    yield
    clear_cache()


@pytest.fixture(autouse=True)
def _fresh_registry_caches():
    """The wire API's per-process cache of schema bodies by id assumes ids are
    never reused, which a rolled-back test database (SQLite) does not promise."""
    from stewardship.registry import views

    yield
    views._ID_CACHE.clear()


@pytest.fixture
def doc():
    return copy.deepcopy(BASE_DOC)


BREAKING = {"type": "MAX_LENGTH_DECREASED", "path": "#/properties/name/maxLength", "compatible": False,
            "against_version": 1, "direction": "backward", "message": "maxLength 100 -> 50"}
HARMLESS = {"type": "DESCRIPTION_CHANGED", "path": "#/description", "compatible": True,
            "against_version": 1, "direction": "backward", "message": ""}
