"""Confluent's own Python client (confluent-kafka) against the live control plane: the
SchemaRegistryClient calls, and JSON serializers run without a broker through a
SerializationContext. Governance must hold on the wire: only approved shapes get ids."""

import json

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.serialization import MessageField, SerializationContext, SerializationError

from controlplane.services import create_service_account
from stewardship import services
from stewardship.choices import VersionStatus
from stewardship.models import SchemaVersion

from .registry_support import ORDER_BREAKING, ORDER_V1, ORDER_V2, orders_subject

TOPIC = "orders"  # TopicNameStrategy: subject "orders-value"
CTX = SerializationContext(TOPIC, MessageField.VALUE)


@pytest.fixture
def registry(live_server, cast):
    """registry() -> a SchemaRegistryClient of the service account (HTTP Basic, as
    basic.auth.user.info sends it); registry(bearer=key) -> one sending a bearer token."""

    def make(bearer=None):
        conf = {"url": f"{live_server.url}/registry/confluent"}
        if bearer:
            conf.update({"bearer.auth.credentials.source": "STATIC_TOKEN", "bearer.auth.token": bearer,
                         "bearer.auth.logical.cluster": "control-plane"})
        else:
            conf["basic.auth.user.info"] = f"service:{cast.token}"
        return SchemaRegistryClient(conf)

    return make


@pytest.fixture
def subject(cast):
    return orders_subject(cast)


def _approve_pending(steward):
    services.approve(actor=steward, version=SchemaVersion.objects.get(status=VersionStatus.IN_REVIEW))


def _json_schema(document):
    return Schema(json.dumps(document), "JSON")


def test_client_calls_against_the_governed_registry(registry, subject, cast):
    client = registry()
    latest = client.get_latest_version("orders-value")
    assert latest.version == 1 and json.loads(latest.schema.schema_str) == ORDER_V1
    assert json.loads(client.get_schema(latest.schema_id).schema_str) == ORDER_V1
    assert client.get_subjects() == ["orders-value"]
    assert client.get_versions("orders-value") == [1]
    assert "JSON" in client.get_schema_types()

    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema("orders-value", _json_schema(ORDER_V2))
    assert (refused.value.http_status_code, refused.value.error_code) == (422, 42290)
    assert "awaits steward approval" in refused.value.error_message
    with pytest.raises(SchemaRegistryError) as missing:
        client.lookup_schema("orders-value", _json_schema(ORDER_V2))
    assert missing.value.error_code == 40403

    _approve_pending(cast["steward"])
    schema_id = client.register_schema("orders-value", _json_schema(ORDER_V2))
    found = client.lookup_schema("orders-value", _json_schema(ORDER_V2))
    assert (found.schema_id, found.version) == (schema_id, 2)
    assert registry().get_latest_version("orders-value").version == 2

    assert client.test_compatibility("orders-value", _json_schema(ORDER_BREAKING)) is False
    assert client.test_compatibility("orders-value", _json_schema(ORDER_V2), version=1) is True

    # Config and mode: a steward's bearer token may change them, the service account may not.
    _token, key = create_service_account(name="steward", role="Steward")
    steward = registry(bearer=key)
    with pytest.raises(SchemaRegistryError) as forbidden:
        client.set_compatibility("orders-value", "NONE")
    assert forbidden.value.error_code == 40301
    assert steward.set_compatibility("orders-value", "FULL") == {"compatibility": "FULL"}
    assert client.get_compatibility("orders-value") == "FULL"
    assert client.get_compatibility() == "BACKWARD"
    assert steward.update_mode("orders-value", "READONLY") == "READONLY"
    assert client.get_mode("orders-value") == "READONLY"
    assert client.get_global_mode() == "READWRITE"


def test_json_serializer_round_trip_and_only_approved_shapes(registry, subject, cast):
    client = registry()
    order = {"id": "SO-1001", "amount": 1250.5}

    produced = JSONSerializer(json.dumps(ORDER_V1), client)(order, CTX)
    v1_id = client.get_latest_version("orders-value").schema_id
    assert produced[0] == 0 and int.from_bytes(produced[1:5], "big") == v1_id  # Confluent framing
    assert json.loads(produced[5:]) == order
    assert JSONDeserializer(None, schema_registry_client=registry())(produced, CTX) == order

    # Auto-registering a schema no steward approved yet: refused, and nothing is produced.
    with pytest.raises(SchemaRegistryError) as refused:
        JSONSerializer(json.dumps(ORDER_V2), registry())({"id": "SO-1002"}, CTX)
    assert refused.value.error_code == 42290
    # Without auto-registration the unapproved schema is simply unknown.
    with pytest.raises(SchemaRegistryError) as unknown:
        JSONSerializer(json.dumps(ORDER_V2), registry(), conf={"auto.register.schemas": False})({"id": "SO-1002"}, CTX)
    assert unknown.value.error_code == 40403

    _approve_pending(cast["steward"])
    latest_only = {"auto.register.schemas": False, "use.latest.version": True}
    produced = JSONSerializer(json.dumps(ORDER_V1), registry(), conf=latest_only)({"id": "SO-1002"}, CTX)
    v2 = registry().get_latest_version("orders-value")  # a fresh client: the first one caches latest
    assert v2.version == 2 and int.from_bytes(produced[1:5], "big") == v2.schema_id != v1_id
    assert JSONDeserializer(None, schema_registry_client=registry())(produced, CTX) == {"id": "SO-1002"}
    # The latest approved shape is enforced on the producer: an order without its id fails.
    with pytest.raises(SerializationError):
        JSONSerializer(json.dumps(ORDER_V1), registry(), conf=latest_only)({"amount": 3}, CTX)
