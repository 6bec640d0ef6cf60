"""Shared set-up of the Schema Registry wire tests: a governed subject and a published version."""

import base64
import json

from stewardship import services
from tests.factories import EntityFactory

ORDER_V1 = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Order",
    "type": "object",
    "properties": {"id": {"type": "string"}, "amount": {"type": "number"}},
    "required": ["id", "amount"],
}
# "amount" becomes optional: the new schema reads everything v1 wrote (BACKWARD compatible).
ORDER_V2 = {**ORDER_V1, "required": ["id"], "description": "An order; amount may be unknown."}
# A new required property: v1 data lacks it (breaks BACKWARD).
ORDER_BREAKING = {**ORDER_V1, "required": ["id", "amount", "currency"],
                  "properties": {**ORDER_V1["properties"], "currency": {"type": "string"}}}


def make_subject(actor, slug="orders-value", name="Orders (Kafka value)", **extra):
    return services.create_subject(actor=actor, name=name, slug=slug, format="json-schema",
                                   entity=EntityFactory(), **extra)


def orders_subject(cast):
    """``orders-value`` with v1 (ORDER_V1) approved."""
    subject = make_subject(cast["architect"])
    publish(subject, ORDER_V1, author=cast["architect"], steward=cast["steward"])
    return subject


def publish(subject, document, *, author, steward, references=()):
    """A version through the whole review: draft, submit, one steward approval."""
    version = services.create_draft(actor=author, subject=subject, document=document, references=references)
    version = services.submit(actor=author, version=version)
    return services.approve(actor=steward, version=version)


def basic(account, token):
    return "Basic " + base64.b64encode(f"{account}:{token}".encode()).decode()


def schema_body(document, schema_type="JSON", references=None):
    body = {"schema": json.dumps(document), "schemaType": schema_type}
    if references:
        body["references"] = references
    return body
