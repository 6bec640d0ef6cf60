"""Permanent deletes and IMPORT mode through confluent-kafka's SchemaRegistryClient against
the live server, with the governance rules of docs/stewardship.md: a steward deletes, soft
first, never what another schema refers to; only the admin-granted importer imports, with
the ids and versions of the registry it migrates, and ids are never given twice."""

import json

import pytest
from confluent_kafka.schema_registry import Schema, SchemaReference, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry.json_schema import JSONDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from django.contrib.auth.models import Permission

from controlplane.models import AuditEntry
from controlplane.services import create_service_account
from stewardship import services
from stewardship.choices import VersionStatus
from stewardship.models import SchemaVersion

from .registry_support import ORDER_V1, ORDER_V2, make_subject, orders_subject, publish

ORDER_V3 = {**ORDER_V2, "description": "An order (v3)."}


@pytest.fixture
def connect(live_server, cast):
    """connect() -> the Integration service account's client; connect(key) -> a bearer token's."""

    def make(key=None):
        conf = {"url": f"{live_server.url}/registry/confluent"}
        if key:
            conf.update({"bearer.auth.credentials.source": "STATIC_TOKEN", "bearer.auth.token": key,
                         "bearer.auth.logical.cluster": "control-plane"})
        else:
            conf["basic.auth.user.info"] = f"service:{cast.token}"
        return SchemaRegistryClient(conf)

    return make


def _steward_key(name="steward-bot"):
    return create_service_account(name=name, role="Steward")[1]


def _code(call):
    with pytest.raises(SchemaRegistryError) as refused:
        call()
    return refused.value.error_code


def test_permanent_delete_needs_a_soft_delete_first_and_never_reuses_the_id(connect, cast):
    subject = orders_subject(cast)
    publish(subject, ORDER_V2, author=cast["architect"], steward=cast["steward"])
    steward, service = connect(_steward_key()), connect()
    v2_id = connect().get_version("orders-value", 2).schema_id

    assert _code(lambda: service.delete_version("orders-value", 2, permanent=True)) == 40301
    assert _code(lambda: steward.delete_version("orders-value", 2, permanent=True)) == 40407
    assert steward.delete_version("orders-value", 2) == 2  # soft: still readable with deleted=true
    assert connect().get_version("orders-value", 2, deleted=True).schema_id == v2_id
    assert steward.delete_version("orders-value", 2, permanent=True) == 2

    fresh = connect()
    assert _code(lambda: fresh.get_version("orders-value", 2, deleted=True)) == 40402
    assert _code(lambda: fresh.get_schema(v2_id)) == 40403
    assert fresh.get_versions("orders-value", deleted=True) == [1]
    purged = SchemaVersion.objects.get(subject=subject, number=2)
    assert purged.status == VersionStatus.DELETED
    entry = AuditEntry.objects.get(action="schemaversion.purge", object_id=str(purged.pk))
    assert entry.actor.username == "steward-bot" and entry.after["schema_id"] == v2_id

    # A new shape gets a new number and a new id: neither is ever given twice.
    with pytest.raises(SchemaRegistryError):
        service.register_schema("orders-value", Schema(json.dumps(ORDER_V3), "JSON"))
    services.approve(actor=cast["steward"], version=SchemaVersion.objects.get(status=VersionStatus.IN_REVIEW))
    latest = connect().get_latest_version("orders-value")
    assert latest.version == 3 and latest.schema_id > v2_id


def test_a_referenced_version_is_never_permanently_deleted(connect, cast):
    customer = make_subject(cast["architect"], slug="customer-value", name="Customer")
    publish(customer, {"type": "object", "properties": {"name": {"type": "string"}}},
            author=cast["architect"], steward=cast["steward"])
    orders = make_subject(cast["architect"], slug="orders-value", name="Orders")
    ref = {"name": "customer.json", "subject": "customer-value", "version": 1}
    publish(orders, {"type": "object", "properties": {"customer": {"$ref": "customer.json"}}},
            author=cast["architect"], steward=cast["steward"], references=[ref])
    steward = connect(_steward_key())

    assert _code(lambda: steward.delete_subject("customer-value", permanent=True)) == 40405
    assert steward.delete_subject("customer-value") == [1]  # soft delete: the reference still resolves
    assert _code(lambda: steward.delete_version("customer-value", 1, permanent=True)) == 42206
    assert _code(lambda: steward.delete_subject("customer-value", permanent=True)) == 42206
    assert SchemaVersion.objects.get(subject=customer, number=1).status == VersionStatus.DEPRECATED
    assert connect().test_compatibility("orders-value", Schema(
        json.dumps({"type": "object", "properties": {"customer": {"$ref": "customer.json"}}}), "JSON",
        references=[SchemaReference(**ref)])) is True

    # Once nothing refers to it any more, the whole subject may go.
    steward.delete_subject("orders-value")
    assert steward.delete_subject("orders-value", permanent=True) == [1]
    assert steward.delete_subject("customer-value", permanent=True) == [1]
    assert _code(lambda: connect().get_versions("customer-value", deleted=True)) == 40401


def _importer(name="migrator"):
    """A steward service account an admin granted stewardship.import_schema (no role has it)."""
    token, key = create_service_account(name=name, role="Steward")
    token.user.user_permissions.add(Permission.objects.get(codename="import_schema"))
    return key


def _import(client, subject, document, schema_id, version):
    body = {"schema": json.dumps(document), "schemaType": "JSON", "id": schema_id, "version": version}
    return client._rest_client.post(f"subjects/{subject}/versions", body=body)


def test_import_keeps_the_ids_and_versions_of_the_migrated_registry(connect, cast):
    orders = make_subject(cast["architect"], slug="orders-value", name="Orders")
    importer, steward = connect(_importer()), connect(_steward_key())

    assert _code(lambda: steward.update_mode("orders-value", "IMPORT")) == 40301  # a plain steward may not
    assert _code(lambda: _import(importer, "orders-value", ORDER_V1, 4100, 3)) == 42205  # not in IMPORT mode
    assert importer.update_mode("orders-value", "IMPORT") == "IMPORT"
    assert _import(importer, "orders-value", ORDER_V1, 4100, 3) == {"id": 4100}
    assert _import(importer, "orders-value", ORDER_V1, 4100, 3) == {"id": 4100}  # the tool ran again
    assert _import(importer, "orders-value", ORDER_V2, 4107, 5) == {"id": 4107}
    assert _code(lambda: _import(importer, "orders-value", ORDER_V3, 4100, 6)) == 42205  # id names another text
    assert _code(lambda: _import(importer, "orders-value", ORDER_V3, 4200, 5)) == 42205  # version 5 is taken
    assert _code(lambda: connect().register_schema("orders-value", Schema(json.dumps(ORDER_V3), "JSON"))) == 40301

    reader = connect()
    assert reader.get_versions("orders-value") == [3, 5]
    assert reader.get_version("orders-value", 5).schema_id == 4107
    imported = SchemaVersion.objects.get(subject=orders, number=5)
    assert imported.status == VersionStatus.APPROVED and imported.author.username == "migrator"
    assert AuditEntry.objects.get(action="schemaversion.import", object_id=str(imported.pk)).actor == imported.author

    # A message the old registry's producer framed with id 4107 decodes here.
    framed = b"\x00" + (4107).to_bytes(4, "big") + json.dumps({"id": "SO-9"}).encode()
    ctx = SerializationContext("orders", MessageField.VALUE)
    assert JSONDeserializer(None, schema_registry_client=connect())(framed, ctx) == {"id": "SO-9"}

    # Back to READWRITE: the review governs again, and the sequence was moved past the imports.
    assert importer.update_mode("orders-value", "READWRITE") == "READWRITE"
    with pytest.raises(SchemaRegistryError) as waiting:
        connect().register_schema("orders-value", Schema(json.dumps(ORDER_V3), "JSON"))
    assert waiting.value.error_code == 42290
    services.approve(actor=cast["steward"], version=SchemaVersion.objects.get(status=VersionStatus.IN_REVIEW))
    latest = connect().get_latest_version("orders-value")
    assert latest.version == 6 and latest.schema_id > 4107


def test_import_mode_on_a_subject_with_versions_needs_force(connect, cast):
    orders_subject(cast)
    importer = connect(_importer())
    v1_id = connect().get_version("orders-value", 1).schema_id
    assert _code(lambda: importer.update_mode("orders-value", "IMPORT")) == 42205
    assert _code(lambda: importer.update_global_mode("IMPORT")) == 42205
    assert importer.update_mode("orders-value", "IMPORT", force=True) == "IMPORT"
    assert _code(lambda: _import(importer, "orders-value", ORDER_V2, v1_id, 2)) == 42205  # v1's id: another text
    assert _import(importer, "orders-value", ORDER_V2, 900, 2) == {"id": 900}
    assert connect().get_version("orders-value", 2).schema_id == 900
