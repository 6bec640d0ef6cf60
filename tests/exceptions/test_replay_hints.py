"""A replay the approved schema refuses shows, next to each error, the smallest obvious fix
(a missing required field, a wrong type, a pattern); applying the fixes makes it valid."""

import pytest

from exceptions import schema_check
from tests.exceptions.factories import BusinessExceptionFactory, ReplayTargetFactory
from tests.factories import EntityFactory
from tests.stewardship.conftest import _fresh_validator_cache  # noqa: F401  (autouse: validators cached by id)
from tests.stewardship.factories import SubjectFactory, VersionFactory

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {"invoice": {"type": "string"}, "amount": {"type": "number"},
                   "currency": {"type": "string", "pattern": "^[A-Z]{3}$"}},
    "required": ["invoice", "amount", "currency"],
}


@pytest.fixture
def exc(db):
    entity = EntityFactory()
    VersionFactory(subject=SubjectFactory(entity=entity), status="approved", number=1, document=SCHEMA)
    exc = BusinessExceptionFactory(entity=entity)
    ReplayTargetFactory(integration=exc.integration)
    return exc


def test_refused_replay_page_shows_the_fix_next_to_each_error(exc, client_as):
    resp = client_as("finance").post(f"/exceptions/{exc.pk}/replay/",
                                     {"payload": '{"amount": "12.50", "currency": "eur"}'})
    assert resp.status_code == 400
    page = resp.content.decode()
    assert "&#x27;invoice&#x27; is a required property" in page or "'invoice' is a required property" in page
    assert "Fix: add the field &quot;invoice&quot; to the payload" in page
    assert "Fix: write 12.5 instead of &quot;12.50&quot; at $.amount" in page
    assert "Fix: write &quot;EUR&quot; instead of &quot;eur&quot; at $.currency" in page
    exc.refresh_from_db()
    assert exc.payload != {"amount": "12.50", "currency": "eur"}  # nothing changed


def test_the_suggested_fixes_make_the_payload_valid(exc):
    errors = schema_check.validate_against_entity_schema(exc.entity, {"invoice": "INV-1", "amount": "12.50",
                                                                      "currency": "eur"})
    assert len(errors) == 2 and all("Fix:" in e for e in errors)
    assert schema_check.validate_against_entity_schema(exc.entity, {"invoice": "INV-1", "amount": 12.5,
                                                                    "currency": "EUR"}) == []
    # no lossless conversion: the hint names the type with a value that matches
    (error,) = schema_check.validate_against_entity_schema(exc.entity, {"invoice": "INV-1", "amount": 1,
                                                                        "currency": ["EUR"]})
    assert "is not of type" in error and 'Fix: $.currency must be a string, e.g. "' in error
