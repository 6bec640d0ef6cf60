"""The Confluent Schema Registry wire API at the HTTP level: paths, bodies, error codes,
authentication, permissions and governance (the real clients are in test_registry_clients)."""

import json

import pytest
from django.test import Client

from controlplane.services import create_service_account
from stewardship import services
from stewardship.choices import VersionStatus
from stewardship.models import RegistrySchema, SchemaVersion

from .registry_support import (
    ORDER_BREAKING,
    ORDER_V1,
    ORDER_V2,
    basic,
    make_subject,
    orders_subject,
    publish,
    schema_body,
)

BASE = "/registry/confluent"
CT = "application/vnd.schemaregistry.v1+json"

pytestmark = pytest.mark.django_db


@pytest.fixture
def wire(cast):
    """wire('service') -> a client sending HTTP Basic account:token; wire(None) -> anonymous."""

    def make(who="service"):
        client = Client()
        if who == "service":
            client.defaults["HTTP_AUTHORIZATION"] = basic("service", cast.token)
        elif who is not None:
            user = cast[who]
            _token, key = create_service_account(name=user.username, role="Steward" if "steward" in who else "Executive")
            client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {key}"
        return client

    return make


@pytest.fixture
def subject(cast):
    return orders_subject(cast)


def call(client, method, path, body=None, **query):
    kwargs = {"content_type": CT}
    if body is not None:
        kwargs["data"] = json.dumps(body)
    url = BASE + path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
    response = getattr(client, method)(url, **kwargs)
    assert response["Content-Type"] == CT
    return response.status_code, json.loads(response.content)


def test_reads_serve_approved_versions_with_confluent_bodies(wire, subject):
    client = wire()
    assert call(client, "get", "/subjects") == (200, ["orders-value"])
    assert call(client, "get", "/subjects/orders-value/versions") == (200, [1])
    status, body = call(client, "get", "/subjects/orders-value/versions/latest")
    assert status == 200
    assert body["subject"] == "orders-value" and body["version"] == 1 and body["schemaType"] == "JSON"
    assert json.loads(body["schema"]) == ORDER_V1
    assert call(client, "get", f"/schemas/ids/{body['id']}") == (200, {"schema": body["schema"], "schemaType": "JSON"})
    assert call(client, "get", f"/schemas/ids/{body['id']}/subjects") == (200, ["orders-value"])
    assert call(client, "get", f"/schemas/ids/{body['id']}/versions") == (200, [{"subject": "orders-value", "version": 1}])
    assert call(client, "get", "/subjects/orders-value/versions/1/schema") == (200, ORDER_V1)
    assert "JSON" in call(client, "get", "/schemas/types")[1]


def test_not_found_and_invalid_answers_carry_confluent_codes(wire, subject):
    client = wire()
    assert call(client, "get", "/subjects/nope/versions") == (404, {"error_code": 40401, "message": "Subject 'nope' not found."})
    assert call(client, "get", "/subjects/orders-value/versions/7")[1]["error_code"] == 40402
    assert call(client, "get", "/subjects/orders-value/versions/zero")[1]["error_code"] == 42202
    assert call(client, "get", "/schemas/ids/999999")[1]["error_code"] == 40403
    assert call(client, "post", "/subjects/orders-value/versions", {"schema": "{not json", "schemaType": "JSON"})[1][
        "error_code"] == 42201
    assert call(client, "post", "/subjects/orders-value/versions", schema_body(ORDER_V2, "AVRO"))[1]["error_code"] == 42201
    assert call(client, "post", "/subjects/orders-value/versions",
                schema_body({"type": "object", "properties": {"x": {"type": "nonsense"}}}))[1]["error_code"] == 42201


def test_registration_starts_the_review_and_the_approved_schema_gets_its_id(wire, subject, cast):
    client = wire()
    status, body = call(client, "post", "/subjects/orders-value/versions", schema_body(ORDER_V2))
    assert status == 422 and body["error_code"] == 42290
    assert "awaits steward approval" in body["message"] and "/stewardship/versions/" in body["message"]
    pending = SchemaVersion.objects.get(subject=subject, status=VersionStatus.IN_REVIEW)
    assert pending.author == cast["service"] and pending.compat_report["compatible"] is True
    # Asking again does not open a second review; the unapproved schema is served nowhere.
    assert call(client, "post", "/subjects/orders-value/versions", schema_body(ORDER_V2))[1]["error_code"] == 42290
    assert SchemaVersion.objects.filter(subject=subject).count() == 2
    assert call(client, "get", "/subjects/orders-value/versions") == (200, [1])
    status, body = call(client, "post", "/subjects/orders-value", schema_body(ORDER_V2))
    assert status == 404 and body["error_code"] == 40403 and "awaits steward approval" in body["message"]

    services.approve(actor=cast["steward"], version=pending)
    status, body = call(client, "post", "/subjects/orders-value/versions", schema_body(ORDER_V2))
    assert status == 200 and body == {"id": SchemaVersion.objects.get(pk=pending.pk).registry_schema_id}
    assert call(client, "get", "/subjects/orders-value/versions/latest")[1]["version"] == 2
    status, found = call(client, "post", "/subjects/orders-value", schema_body(ORDER_V2))
    assert status == 200 and (found["id"], found["version"]) == (body["id"], 2)


def test_a_rejected_schema_is_refused_with_the_stewards_reason(wire, subject, cast):
    client = wire()
    call(client, "post", "/subjects/orders-value/versions", schema_body(ORDER_V2))
    pending = SchemaVersion.objects.get(subject=subject, status=VersionStatus.IN_REVIEW)
    services.reject(actor=cast["steward"], version=pending, comment="Notes belong in the invoice, not the order.")
    status, body = call(client, "post", "/subjects/orders-value/versions", schema_body(ORDER_V2))
    assert status == 422 and body["error_code"] == 42291 and "Notes belong in the invoice" in body["message"]


def test_an_incompatible_schema_is_refused_with_409_and_nothing_written(wire, subject):
    before = SchemaVersion.objects.count()
    status, body = call(wire(), "post", "/subjects/orders-value/versions", schema_body(ORDER_BREAKING))
    assert status == 409 and body["error_code"] == 409 and "incompatible" in body["message"]
    assert SchemaVersion.objects.count() == before


def test_compatibility_uses_the_subjects_level_with_verbose_messages(wire, subject, cast):
    client = wire()
    status, body = call(client, "post", "/compatibility/subjects/orders-value/versions/latest",
                        schema_body(ORDER_BREAKING), verbose="true")
    assert status == 200 and body["is_compatible"] is False
    assert body["messages"] and all("level BACKWARD" in m for m in body["messages"])
    assert call(client, "post", "/compatibility/subjects/orders-value/versions/1", schema_body(ORDER_V2)) == (
        200, {"is_compatible": True})
    services.update_subject(actor=cast["steward"], subject=subject, compatibility_level="NONE")
    assert call(client, "post", "/compatibility/subjects/orders-value/versions", schema_body(ORDER_BREAKING)) == (
        200, {"is_compatible": True})


def test_the_same_text_under_two_subjects_shares_one_id(wire, subject, cast):
    other = make_subject(cast["architect"], slug="orders-archive-value", name="Orders archive")
    publish(other, ORDER_V1, author=cast["architect"], steward=cast["steward"])
    first = call(wire(), "get", "/subjects/orders-value/versions/1")[1]["id"]
    second = call(wire(), "get", "/subjects/orders-archive-value/versions/1")[1]["id"]
    assert first == second and RegistrySchema.objects.count() == 1
    assert call(wire(), "get", f"/schemas/ids/{first}/subjects")[1] == ["orders-archive-value", "orders-value"]


def test_references_must_name_approved_versions_and_are_served(wire, subject, cast):
    customer = make_subject(cast["architect"], slug="customer", name="Customer")
    publish(customer, {"type": "object", "properties": {"name": {"type": "string"}}},
            author=cast["architect"], steward=cast["steward"])
    services.update_subject(actor=cast["steward"], subject=subject, compatibility_level="NONE")  # a new property
    ref = [{"name": "customer.json", "subject": "customer", "version": 1}]
    doc = {**ORDER_V2, "properties": {**ORDER_V2["properties"], "customer": {"$ref": "customer.json"}}}
    bad = [{"name": "customer.json", "subject": "customer", "version": 9}]
    assert call(wire(), "post", "/subjects/orders-value/versions", schema_body(doc, references=bad))[1][
        "error_code"] == 42201
    assert call(wire(), "post", "/subjects/orders-value/versions", schema_body(doc, references=ref))[1][
        "error_code"] == 42290
    services.approve(actor=cast["steward"], version=SchemaVersion.objects.get(status=VersionStatus.IN_REVIEW))
    body = call(wire(), "get", "/subjects/orders-value/versions/2")[1]
    assert body["references"] == ref
    assert call(wire(), "get", "/subjects/customer/versions/1/referencedby")[1] == [body["id"]]


def test_config_and_mode_need_a_steward_and_readonly_stops_registration(wire, subject):
    service, steward = wire(), wire("steward")
    assert call(service, "put", "/config/orders-value", {"compatibility": "FULL"})[1]["error_code"] == 40301
    assert call(service, "get", "/config/orders-value")[1]["error_code"] == 40408
    assert call(service, "get", "/config/orders-value", defaultToGlobal="true") == (200, {"compatibilityLevel": "BACKWARD"})
    assert call(steward, "put", "/config/orders-value", {"compatibility": "full"}) == (200, {"compatibility": "FULL"})
    assert call(service, "get", "/config/orders-value") == (200, {"compatibilityLevel": "FULL"})
    assert call(steward, "put", "/config", {"compatibility": "SIDEWAYS"})[1]["error_code"] == 42203
    assert call(steward, "put", "/mode/orders-value", {"mode": "SIDEWAYS"})[1]["error_code"] == 42204
    assert call(steward, "put", "/mode/orders-value", {"mode": "IMPORT"})[1]["error_code"] == 40301  # importer only
    assert call(steward, "put", "/mode/orders-value", {"mode": "READONLY"}) == (200, {"mode": "READONLY"})
    status, body = call(service, "post", "/subjects/orders-value/versions", schema_body(ORDER_V2))
    assert (status, body["error_code"]) == (422, 42205)
    assert call(steward, "delete", "/mode/orders-value") == (200, {"mode": "READONLY"})
    assert call(service, "get", "/mode") == (200, {"mode": "READWRITE"})


def test_delete_is_a_stewards_soft_delete_then_a_permanent_one(wire, subject):
    service, steward = wire(), wire("steward")
    assert call(service, "delete", "/subjects/orders-value/versions/1")[1]["error_code"] == 40301
    assert call(steward, "delete", "/subjects/orders-value/versions/1", permanent="true")[1]["error_code"] == 40407
    schema_id = call(service, "get", "/subjects/orders-value/versions/1")[1]["id"]
    assert call(steward, "delete", "/subjects/orders-value") == (200, [1])
    assert call(service, "get", "/subjects/orders-value/versions/1")[1]["error_code"] == 40402
    assert call(service, "get", "/subjects/orders-value/versions/1", deleted="true")[0] == 200
    assert call(service, "get", f"/schemas/ids/{schema_id}")[0] == 200  # old messages stay readable
    assert call(steward, "delete", "/subjects/orders-value")[1]["error_code"] == 40404
    assert call(steward, "delete", "/subjects/orders-value", permanent="true") == (200, [1])
    assert call(service, "get", f"/schemas/ids/{schema_id}")[1]["error_code"] == 40403
    assert call(service, "get", "/subjects/orders-value/versions", deleted="true")[1]["error_code"] == 40401


def test_authentication_and_read_permission(wire, subject, cast):
    status, body = call(wire(None), "get", "/subjects")
    assert (status, body["error_code"]) == (401, 40101) and "basic.auth.user.info" in body["message"]
    wrong = Client(HTTP_AUTHORIZATION=basic("steward", cast.token))  # a token passed off as another account's
    assert call(wrong, "get", "/subjects")[1]["error_code"] == 40101
    outsider = Client()
    outsider.force_login(cast["outsider"])  # signed in, no role
    assert call(outsider, "get", "/subjects")[1]["error_code"] == 40301
    reader = Client()
    reader.force_login(cast["executive"])  # a session may read, never write
    assert call(reader, "get", "/subjects")[0] == 200
    assert call(reader, "post", "/subjects/orders-value/versions", schema_body(ORDER_V2))[1]["error_code"] == 40301
    executive = wire("executive")  # a token whose role may read but not register
    assert call(executive, "post", "/subjects/orders-value/versions", schema_body(ORDER_V2))[1]["error_code"] == 40301


def test_a_scoped_token_registers_only_for_its_own_integrations(subject, cast):
    from tests.factories import IntegrationFactory

    producer, other = IntegrationFactory(), IntegrationFactory()
    producer.entities.add(subject.entity)  # the producer carries the subject's entity
    _token, outside = create_service_account(name="billing-mw", role="Integration", integrations=[other.slug])
    status, body = call(Client(HTTP_AUTHORIZATION=f"Bearer {outside}"), "post", "/subjects/orders-value/versions",
                        schema_body(ORDER_V2))
    assert (status, body["error_code"]) == (403, 40301) and "may not register" in body["message"]
    assert not SchemaVersion.objects.filter(status=VersionStatus.IN_REVIEW).exists()
    _token, inside = create_service_account(name="orders-mw", role="Integration", integrations=[producer.slug])
    status, body = call(Client(HTTP_AUTHORIZATION=f"Bearer {inside}"), "post", "/subjects/orders-value/versions",
                        schema_body(ORDER_V2))
    assert (status, body["error_code"]) == (422, 42290)
