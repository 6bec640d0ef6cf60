"""Avro compatibility through the wire: a second Avro version is checked by the subject's
level with the Avro engine (``compat.check(fmt="avro")``), which arrives with the avro
branch; on its own this branch has only the Avro format and parser, so these tests need
the merged tree (see the registry report)."""

import json

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from stewardship import services
from stewardship.choices import VersionStatus
from stewardship.models import SchemaVersion
from tests.factories import ApiFactory

from .test_registry_avro import PAYMENT_V1

# A field added with a default: readers of v2 fill it for v1 data (BACKWARD compatible).
PAYMENT_V2 = {**PAYMENT_V1, "fields": [*PAYMENT_V1["fields"], {"name": "note", "type": "string", "default": ""}]}
# A field added without a default: v1 data cannot be read (breaks BACKWARD).
PAYMENT_BREAKING = {**PAYMENT_V1, "fields": [*PAYMENT_V1["fields"], {"name": "payer", "type": "string"}]}


@pytest.fixture
def client(live_server, cast):
    subject = services.create_subject(actor=cast["architect"], name="Payments (Kafka value)", slug="payments-value",
                                      format="avro", api=ApiFactory())
    client = SchemaRegistryClient({"url": f"{live_server.url}/registry/confluent",
                                   "basic.auth.user.info": f"service:{cast.token}"})
    with pytest.raises(SchemaRegistryError):
        client.register_schema(subject.slug, Schema(json.dumps(PAYMENT_V1), "AVRO"))
    services.approve(actor=cast["steward"], version=SchemaVersion.objects.get(status=VersionStatus.IN_REVIEW))
    return client


def test_avro_compatibility_follows_the_subjects_level(client):
    assert client.test_compatibility("payments-value", Schema(json.dumps(PAYMENT_V2), "AVRO")) is True
    assert client.test_compatibility("payments-value", Schema(json.dumps(PAYMENT_BREAKING), "AVRO")) is False
    with pytest.raises(SchemaRegistryError) as incompatible:
        client.register_schema("payments-value", Schema(json.dumps(PAYMENT_BREAKING), "AVRO"))
    assert (incompatible.value.http_status_code, incompatible.value.error_code) == (409, 409)
    with pytest.raises(SchemaRegistryError) as waiting:
        client.register_schema("payments-value", Schema(json.dumps(PAYMENT_V2), "AVRO"))
    assert waiting.value.error_code == 42290
