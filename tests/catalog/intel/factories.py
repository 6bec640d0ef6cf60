"""A small estate with known answers for impact and scorecard tests."""

import datetime
from types import SimpleNamespace

from catalog import choices
from catalog.models import CanonicalEntity, Integration, Workflow
from tests.factories import (
    ApiFactory,
    EntityFactory,
    IntegrationFactory,
    SlaFactory,
    SystemFactory,
    TeamFactory,
    WorkflowFactory,
)

OPENAPI = "openapi: 3.0.0\ninfo: {title: x, version: '1'}\npaths: {}\n"


def build_estate():
    """Teams fin (reachable), ops (no email, no members), sales. See test_impact.py for
    the picture."""
    e = SimpleNamespace()
    e.fin = TeamFactory(slug="fin", name="Finance Systems", email="fin@example.com")
    e.ops = TeamFactory(slug="ops", name="Ops", email="")
    e.sales = TeamFactory(slug="sales", name="Sales Ops", email="sales@example.com")
    e.netsuite = SystemFactory(slug="netsuite", name="NetSuite", owner_team=e.fin)
    e.certinia = SystemFactory(slug="certinia", name="Certinia", owner_team=e.sales, category="psa")
    e.salesforce = SystemFactory(slug="salesforce", name="Salesforce", owner_team=e.sales, category="crm")
    e.mulesoft = SystemFactory(slug="mulesoft", name="MuleSoft", owner_team=e.fin, category="middleware")
    e.snowflake = SystemFactory(slug="snowflake", name="Snowflake", owner_team=e.ops, category="bi")
    e.sap = SystemFactory(slug="legacy-sap", name="Legacy SAP", owner_team=e.ops,
                          lifecycle=choices.SystemLifecycle.RETIRED)
    e.old_crm = SystemFactory(slug="old-crm", name="Old CRM", owner_team=e.sales,
                              retirement_date=datetime.date(2020, 1, 1))
    e.netsuite_rest = ApiFactory(slug="netsuite-rest", name="netsuite-rest", provider_system=e.netsuite,
                                 owner_team=e.fin, definition=OPENAPI, definition_format="openapi")
    e.certinia_api = ApiFactory(slug="certinia-api", name="certinia-api", provider_system=e.certinia,
                                owner_team=e.sales, lifecycle=choices.ApiLifecycle.DEPRECATED, definition="")
    # Seeded by a migration; get-or-create so transactional (flushed) tests work too.
    time_entry = EntityFactory(slug="time-entry", name="Time entry")
    invoice = EntityFactory(slug="invoice", name="Invoice")
    project = EntityFactory(slug="project", name="Project")
    e.time_to_invoice = WorkflowFactory(slug="time-to-invoice", name="Time-to-invoice")
    e.period_close = WorkflowFactory(slug="period-close", name="Period close")
    e.project_setup = WorkflowFactory(slug="project-setup", name="Project setup")
    e.time_sync = IntegrationFactory(
        slug="time-sync", name="Time sync", source_system=e.certinia, target_system=e.netsuite,
        middleware_system=e.mulesoft, owner_team=e.fin, criticality=1, apis=[e.netsuite_rest],
        entities=[time_entry], workflows=[e.time_to_invoice])
    SlaFactory(integration=e.time_sync)
    e.invoice_to_bi = IntegrationFactory(
        slug="invoice-to-bi", name="Invoice to BI", source_system=e.netsuite, target_system=e.snowflake,
        owner_team=e.ops, entities=[invoice], workflows=[e.period_close])
    e.opp_to_project = IntegrationFactory(
        slug="opp-to-project", name="Opportunity to project", source_system=e.salesforce, target_system=e.certinia,
        owner_team=e.sales, criticality=1, apis=[e.certinia_api], entities=[project], workflows=[e.project_setup])
    SlaFactory(integration=e.opp_to_project)
    e.sap_feed = IntegrationFactory(slug="sap-feed", name="SAP feed", source_system=e.sap, target_system=e.snowflake,
                                    owner_team=e.ops)
    e.retired = IntegrationFactory(slug="old-sync", name="Old sync", source_system=e.netsuite, target_system=e.old_crm,
                                   owner_team=e.sales, lifecycle=choices.IntegrationLifecycle.RETIRED)
    return e


def build_large_estate(n_integrations: int, *, n_systems: int = 30, n_apis: int = 40):
    """``n_integrations`` integrations over a ring of systems, each using two APIs,
    carrying two of the seeded entities and serving a workflow (bulk inserts: fast)."""
    team = TeamFactory(slug="big-team", email="big@example.com")
    systems = [SystemFactory(slug=f"sys-{i}", name=f"Sys {i}", owner_team=team) for i in range(n_systems)]
    apis = [ApiFactory(slug=f"api-{i}", provider_system=systems[i % n_systems], owner_team=team)
            for i in range(n_apis)]
    workflows = list(Workflow.objects.all())
    rows = Integration.objects.bulk_create([
        Integration(slug=f"int-{i}", name=f"Int {i}", source_system=systems[i % n_systems],
                    target_system=systems[(i + 1) % n_systems], owner_team=team,
                    lifecycle=choices.IntegrationLifecycle.ACTIVE)
        for i in range(n_integrations)
    ])
    Through = Integration.apis.through
    Through.objects.bulk_create([
        Through(integration_id=row.pk, api_id=apis[(i + k) % n_apis].pk) for i, row in enumerate(rows) for k in (0, 7)
    ])
    entities = list(CanonicalEntity.objects.order_by("slug")) or [EntityFactory(slug="thing", name="Thing")]
    EThrough = Integration.entities.through
    # One entity that flows on around the ring (every len(entities)-th integration out of
    # a system carries it on), one scattered: each integration feeds a few downstream.
    EThrough.objects.bulk_create([
        EThrough(integration_id=row.pk, canonicalentity_id=entities[index].pk)
        for i, row in enumerate(rows)
        for index in {(i // n_systems) % len(entities), (i * 7 + 3) % len(entities)}
    ])
    WThrough = Integration.workflows.through
    WThrough.objects.bulk_create([
        WThrough(integration_id=row.pk, workflow_id=workflows[i % len(workflows)].pk) for i, row in enumerate(rows)
    ])
    return SimpleNamespace(team=team, systems=systems, apis=apis, integrations=rows)


def build_flows(flows, *, hubs=()):
    """A hand-built estate from ``(slug, source, target, [entity slugs])`` tuples (optional
    5th item: a dict of Integration fields). Systems and entities are created by slug on
    first mention; systems named in ``hubs`` are middleware. Returns slug -> object."""
    team = TeamFactory(slug="flow-team", name="Flow team", email="flow@example.com")
    objects = {}

    def system(slug):
        if slug not in objects:
            category = "middleware" if slug in hubs else "other"
            objects[slug] = SystemFactory(slug=slug, name=slug.replace("-", " ").title(), owner_team=team,
                                          category=category)
        return objects[slug]

    for slug, source, target, entity_slugs, *extra in flows:
        entities = [EntityFactory(slug=e, name=e.replace("-", " ").capitalize()) for e in entity_slugs]
        fields = dict(extra[0]) if extra else {}
        if "middleware" in fields:
            fields["middleware_system"] = system(fields.pop("middleware"))
        objects[slug] = IntegrationFactory(slug=slug, name=slug.upper(), source_system=system(source),
                                           target_system=system(target), owner_team=team, entities=entities, **fields)
    return objects
