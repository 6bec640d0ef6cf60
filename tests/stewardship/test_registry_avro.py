"""Avro through the wire with confluent-kafka's AvroSerializer/AvroDeserializer (no
broker: a SerializationContext), against the live server. A subject's first Avro version
needs no compatibility check; the check of later versions is in test_registry_avro_compat."""

import json

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext, SerializationError

from stewardship import services
from stewardship.choices import VersionStatus
from stewardship.models import SchemaVersion
from tests.factories import ApiFactory

PAYMENT_V1 = {
    "type": "record", "name": "PaymentReceived", "namespace": "com.example.billing",
    "fields": [
        {"name": "invoice", "type": "string"},
        {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}},
        {"name": "currency", "type": {"type": "enum", "name": "Currency", "symbols": ["EUR", "USD", "GBP"]}},
    ],
}
CTX = SerializationContext("payments", MessageField.VALUE)


@pytest.fixture
def registry(live_server, cast):
    def make():
        return SchemaRegistryClient({"url": f"{live_server.url}/registry/confluent",
                                     "basic.auth.user.info": f"service:{cast.token}"})

    return make


@pytest.fixture
def subject(cast):
    return services.create_subject(actor=cast["architect"], name="Payments (Kafka value)", slug="payments-value",
                                   format="avro", api=ApiFactory())


def test_avro_serializer_waits_for_approval_then_round_trips(registry, subject, cast):
    from decimal import Decimal

    payment = {"invoice": "INV-2026-0042", "amount": Decimal("1250.50"), "currency": "EUR"}
    with pytest.raises(SchemaRegistryError) as refused:
        AvroSerializer(registry(), json.dumps(PAYMENT_V1))(payment, CTX)
    assert (refused.value.http_status_code, refused.value.error_code) == (422, 42290)
    with pytest.raises(SchemaRegistryError) as unknown:  # without auto-registration: not there
        AvroSerializer(registry(), json.dumps(PAYMENT_V1), conf={"auto.register.schemas": False})(payment, CTX)
    assert unknown.value.error_code == 40403

    services.approve(actor=cast["steward"], version=SchemaVersion.objects.get(status=VersionStatus.IN_REVIEW))
    produced = AvroSerializer(registry(), json.dumps(PAYMENT_V1), conf={"auto.register.schemas": False})(payment, CTX)
    latest = registry().get_latest_version("payments-value")
    assert latest.schema.schema_type == "AVRO" and latest.version == 1
    assert produced[0] == 0 and int.from_bytes(produced[1:5], "big") == latest.schema_id
    assert AvroDeserializer(registry())(produced, CTX) == payment

    latest_only = {"auto.register.schemas": False, "use.latest.version": True}
    assert AvroSerializer(registry(), json.dumps(PAYMENT_V1), conf=latest_only)(payment, CTX) == produced
    with pytest.raises((SerializationError, ValueError)):  # a currency the approved enum lacks (fastavro)
        AvroSerializer(registry(), json.dumps(PAYMENT_V1), conf=latest_only)({**payment, "currency": "JPY"}, CTX)
