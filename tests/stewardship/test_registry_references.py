"""Schemas with Confluent references (``references: [{name, subject, version}]``), through
confluent-kafka's own client against the live server: the compatibility check, the steward
review and payload validation read the referenced approved versions, so a breaking change
made only in a referenced type is seen."""

import json

import pytest
from confluent_kafka.schema_registry import Schema, SchemaReference, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry.json_schema import JSONSerializer
from confluent_kafka.serialization import MessageField, SerializationContext, SerializationError

from stewardship import services
from stewardship.choices import VersionStatus
from stewardship.models import SchemaVersion
from tests.factories import ApiFactory

from .registry_support import make_subject, publish

CUSTOMER_V1 = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 100}}, "required": ["name"]}
# A new required property: data written with customer v1 lacks it.
CUSTOMER_BREAKING = {**CUSTOMER_V1, "properties": {**CUSTOMER_V1["properties"], "taxId": {"type": "string"}},
                     "required": ["name", "taxId"]}
# The length limit lifted: everything v1 allowed is still allowed.
CUSTOMER_WIDER = {**CUSTOMER_V1, "properties": {"name": {"type": "string"}}}
# The order's own text never changes: only the customer version it refers to does.
ORDER = {"type": "object", "properties": {"id": {"type": "string"}, "customer": {"$ref": "customer.json"}},
         "required": ["id", "customer"]}


def _ref(version, name="customer.json", subject="customer-value"):
    return {"name": name, "subject": subject, "version": version}


def _schema(document, schema_type, version, **ref):
    reference = _ref(version, **ref)
    return Schema(json.dumps(document), schema_type, references=[SchemaReference(**reference)])


@pytest.fixture
def client(live_server, cast):
    return SchemaRegistryClient({"url": f"{live_server.url}/registry/confluent",
                                 "basic.auth.user.info": f"service:{cast.token}"})


@pytest.fixture
def subjects(cast):
    """customer-value v1 (level NONE: the customer team may break it) and orders-value v1,
    which refers to customer v1; then customer v2 (breaking) and v3 (wider) approved."""
    customer = make_subject(cast["architect"], slug="customer-value", name="Customer", compatibility_level="NONE")
    publish(customer, CUSTOMER_V1, author=cast["architect"], steward=cast["steward"])
    orders = make_subject(cast["architect"], slug="orders-value", name="Orders")
    publish(orders, ORDER, author=cast["architect"], steward=cast["steward"], references=[_ref(1)])
    publish(customer, CUSTOMER_BREAKING, author=cast["architect"], steward=cast["steward"])
    publish(customer, CUSTOMER_WIDER, author=cast["architect"], steward=cast["steward"])
    return customer, orders


def test_a_breaking_change_seen_only_through_the_reference_is_refused(client, subjects):
    assert client.test_compatibility("orders-value", _schema(ORDER, "JSON", 1)) is True
    assert client.test_compatibility("orders-value", _schema(ORDER, "JSON", 2)) is False
    assert client.test_compatibility("orders-value", _schema(ORDER, "JSON", 3)) is True
    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema("orders-value", _schema(ORDER, "JSON", 2))
    assert refused.value.http_status_code == 409
    assert "taxId" in refused.value.error_message or "#/properties/customer" in refused.value.error_message
    assert not SchemaVersion.objects.filter(status=VersionStatus.IN_REVIEW).exists()


def test_the_steward_review_reports_the_change_made_in_the_referenced_type(client, subjects, cast):
    with pytest.raises(SchemaRegistryError) as waiting:
        client.register_schema("orders-value", _schema(ORDER, "JSON", 3))
    assert waiting.value.error_code == 42290
    version = SchemaVersion.objects.get(status=VersionStatus.IN_REVIEW)
    assert version.references == [_ref(3)] and version.is_compatible
    assert ("MAX_LENGTH_REMOVED", "#/properties/customer/properties/name/maxLength") in {
        (f["type"], f["path"]) for f in version.findings}
    services.approve(actor=cast["steward"], version=version)
    assert client.register_schema("orders-value", _schema(ORDER, "JSON", 3)) == \
        client.get_latest_version("orders-value").schema_id


def test_payloads_are_validated_with_the_referenced_schema(client, subjects, api_as):
    url = "/api/v1/stewardship/subjects/orders-value/validate/"
    good = {"id": "SO-1", "customer": {"name": "Acme Ltd"}}
    assert api_as("service").post(url, {"payload": good}, format="json").json()["valid"] is True
    body = api_as("service").post(url, {"payload": {"id": "SO-2", "customer": {"name": 42}}}, format="json").json()
    assert body["valid"] is False and [e["path"] for e in body["errors"]] == ["$.customer.name"]

    # The real serializer fetches the referenced customer schema from the registry too.
    ctx = SerializationContext("orders", MessageField.VALUE)
    serializer = JSONSerializer(_schema(ORDER, "JSON", 1), client, conf={"auto.register.schemas": False})
    framed = serializer(good, ctx)
    assert int.from_bytes(framed[1:5], "big") == client.get_version("orders-value", 1).schema_id
    with pytest.raises(SerializationError):
        serializer({"id": "SO-3", "customer": {}}, ctx)


def test_an_unresolvable_reference_is_an_invalid_schema(client, subjects):
    with pytest.raises(SchemaRegistryError) as invalid:
        client.test_compatibility("orders-value", _schema(ORDER, "JSON", 9))
    assert invalid.value.error_code == 42201 and "not an approved version" in invalid.value.error_message


AVRO_CUSTOMER = {"type": "record", "name": "Customer", "namespace": "com.acme",
                 "fields": [{"name": "name", "type": "string"}]}
AVRO_CUSTOMER_V2 = {**AVRO_CUSTOMER, "fields": [*AVRO_CUSTOMER["fields"], {"name": "taxId", "type": "string"}]}
PAYMENT = {"type": "record", "name": "Payment", "namespace": "com.acme.billing",
           "fields": [{"name": "invoice", "type": "string"}, {"name": "payer", "type": "com.acme.Customer"}]}


def test_avro_named_types_from_a_referenced_subject_are_checked(client, cast):
    api = ApiFactory()
    customer = services.create_subject(actor=cast["architect"], name="Customer (Avro)", slug="customer-avro",
                                       format="avro", api=api, compatibility_level="NONE")
    publish(customer, AVRO_CUSTOMER, author=cast["architect"], steward=cast["steward"])
    payments = services.create_subject(actor=cast["architect"], name="Payments", slug="payments-value",
                                       format="avro", api=api)
    ref = {"name": "com.acme.Customer", "subject": "customer-avro"}
    publish(payments, PAYMENT, author=cast["architect"], steward=cast["steward"], references=[_ref(1, **ref)])
    publish(customer, AVRO_CUSTOMER_V2, author=cast["architect"], steward=cast["steward"])

    assert client.test_compatibility("payments-value", _schema(PAYMENT, "AVRO", 1, **ref)) is True
    # Payment v1's messages carry payers without taxId, which has no default.
    assert client.test_compatibility("payments-value", _schema(PAYMENT, "AVRO", 2, **ref)) is False
    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema("payments-value", _schema(PAYMENT, "AVRO", 2, **ref))
    assert refused.value.http_status_code == 409
