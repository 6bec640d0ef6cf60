"""Impact analysis along data flow, on hand-built estates whose answers are known (chain,
diamond, hub, cycle, derivation), on the small estate of factories.build_estate and on the
demo estate.

    build_estate():
    Salesforce --opp-to-project (uses certinia-api, tier 1, Project)--> Certinia
    Certinia --time-sync (via MuleSoft, uses netsuite-rest, Time entry)--> NetSuite
    NetSuite --invoice-to-bi (Invoice)--> Snowflake        Legacy SAP --sap-feed--> Snowflake
    NetSuite --old-sync (retired)--> Old CRM
"""

import pytest

from catalog import demo, impact, services
from catalog.models import CanonicalEntity, Integration
from tests.catalog.intel.factories import build_estate, build_flows, build_large_estate
from tests.factories import ApiFactory, SlaFactory, WorkflowFactory


def slugs(items):
    return sorted(item["slug"] for item in items)


def hops(result):
    return {item["slug"]: item["hop"] for item in [*result["direct"], *result["downstream"]]}


# --- hand-built estates -----------------------------------------------------------------


@pytest.fixture
def chain(db):
    """a → b → c → d carrying invoices; b also feeds an unrelated tax-code reader."""
    return build_flows([
        ("i1", "a", "b", ["invoice"]),
        ("i2", "b", "c", ["invoice"]),
        ("i3", "c", "d", ["invoice"]),
        ("tax", "b", "e", ["tax-code"]),
    ])


def test_chain_direct_by_default_downstream_on_request(chain):
    result = impact.analyse(chain["a"])
    assert slugs(result["direct"]) == ["i1"] and result["downstream"] == []
    # The next hop is counted, not listed (the walk stops there).
    assert result["counts"]["beyond_depth"] == 1

    everything = impact.analyse(chain["a"], depth=None)
    assert hops(everything) == {"i1": 1, "i2": 2, "i3": 3} and everything["max_hop"] == 3
    far = everything["downstream"][-1]
    assert far["entities"] == ["Invoice"]
    assert far["path_text"] == (
        "I1 reads Invoice from A → I1 delivers Invoice into B → I2 reads Invoice from B"
        " → I2 delivers Invoice into C → I3 reads Invoice from C"
    )
    assert hops(impact.analyse(chain["a"], depth=2)) == {"i1": 1, "i2": 2}


def test_an_unrelated_entity_in_the_same_system_is_not_affected(chain):
    # i1 delivers invoices into b; "tax" reads tax codes from b: not affected.
    result = impact.analyse(chain["i1"], depth=None)
    assert hops(result) == {"i2": 1, "i3": 2}
    assert "tax" not in hops(impact.analyse(chain["a"], depth=None))
    # A system outage does reach it directly: it reads from b.
    assert "tax" in slugs(impact.analyse(chain["b"])["direct"])


def test_diamond_reaches_the_join_once_at_its_shortest_hop(db):
    estate = build_flows([
        ("left", "a", "b", ["project"]),
        ("right", "a", "c", ["project"]),
        ("b-join", "b", "d", ["project"]),
        ("c-join", "c", "d", ["project"]),
        ("out", "d", "e", ["project"]),
    ])
    result = impact.analyse(estate["a"], depth=None)
    assert hops(result) == {"left": 1, "right": 1, "b-join": 2, "c-join": 2, "out": 3}
    assert result["counts"] == {**result["counts"], "direct": 2, "downstream": 3}
    assert [i["slug"] for i in result["downstream"]].count("out") == 1


def test_a_hub_does_not_connect_everything(db):
    """A warehouse and a middleware platform both carry many unrelated flows."""
    estate = build_flows([
        ("ar-load", "erp", "warehouse", ["invoice"], {"middleware": "mule"}),
        ("hr-load", "hris", "warehouse", ["cost-center"], {"middleware": "mule"}),
        ("dso-report", "warehouse", "bi", ["invoice"]),
        ("payroll-costs", "warehouse", "payroll", ["cost-center"], {"middleware": "mule"}),
        ("from-mule", "mule", "crm", ["client"]),
    ], hubs=("mule",))
    assert hops(impact.analyse(estate["ar-load"], depth=None)) == {"dso-report": 1}
    assert hops(impact.analyse(estate["erp"], depth=None)) == {"ar-load": 1, "dso-report": 2}
    # The warehouse itself: everything reading from or delivering into it, nothing more.
    assert hops(impact.analyse(estate["warehouse"], depth=None)) == {
        "ar-load": 1, "hr-load": 1, "dso-report": 1, "payroll-costs": 1}
    # The middleware's outage stops what runs through it; what it feeds as a source too.
    mule = impact.analyse(estate["mule"], depth=None)
    assert slugs(mule["direct"]) == ["ar-load", "from-mule", "hr-load", "payroll-costs"]
    assert slugs(mule["downstream"]) == ["dso-report"]
    through = next(i for i in mule["direct"] if i["slug"] == "ar-load")
    assert through["path_text"] == "AR-LOAD runs through Mule"


def test_a_cycle_ends(db):
    estate = build_flows([
        ("out", "a", "b", ["client"]),
        ("on", "b", "c", ["client"]),
        ("back", "c", "a", ["client"]),
    ])
    assert hops(impact.analyse(estate["out"], depth=None)) == {"on": 1, "back": 2}
    system = impact.analyse(estate["a"], depth=None)
    assert hops(system) == {"out": 1, "back": 1, "on": 2}


def test_a_declared_derivation_carries_impact_one_step(db, cast):
    estate = build_flows([
        ("time-to-erp", "psa", "erp", ["time-entry"]),
        ("dunning", "erp", "crm", ["invoice"]),
        ("invoice-copy", "crm", "archive", ["invoice"]),
        ("erp-to-bi", "erp", "bi", ["time-entry"]),
    ])
    assert hops(impact.analyse(estate["time-to-erp"], depth=None)) == {"erp-to-bi": 1}
    time_entry, invoice = CanonicalEntity.objects.get(slug="time-entry"), CanonicalEntity.objects.get(slug="invoice")
    # Declared for another system: not followed in the ERP.
    services.create_derivation(actor=cast["architect"], source_entity=time_entry, derived_entity=invoice,
                               system=estate["crm"])
    assert hops(impact.analyse(estate["time-to-erp"], depth=None)) == {"erp-to-bi": 1}
    services.create_derivation(actor=cast["architect"], source_entity=time_entry, derived_entity=invoice,
                               system=estate["erp"], description="Approved time becomes invoice lines")
    result = impact.analyse(estate["time-to-erp"], depth=None)
    assert hops(result) == {"erp-to-bi": 1, "dunning": 1, "invoice-copy": 2}
    dunning = next(i for i in result["downstream"] if i["slug"] == "dunning")
    assert dunning["entities"] == ["Invoice"]
    assert dunning["path_text"] == ("TIME-TO-ERP delivers Time entry into Erp → "
                                    "DUNNING reads Invoice (derived from Time entry) from Erp")
    # A schema change of the time entry reaches invoice readers through the derivation.
    entity = impact.analyse(time_entry, depth=None)
    assert slugs(entity["direct"]) == ["erp-to-bi", "time-to-erp"]
    assert hops(entity)["dunning"] == 2


def test_outage_concerns_what_runs_retirement_also_what_is_planned(db):
    estate = build_flows([
        ("live", "a", "b", ["invoice"]),
        ("planned", "a", "c", ["invoice"], {"lifecycle": "planned"}),
        ("retired", "a", "d", ["invoice"], {"lifecycle": "retired"}),
    ])
    assert slugs(impact.analyse(estate["a"], change="outage")["direct"]) == ["live"]
    retire = impact.analyse(estate["a"], change="retire")
    assert slugs(retire["direct"]) == ["live", "planned"]
    assert retire["change_label"] == "Retirement of System A"
    with pytest.raises(ValueError):
        impact.analyse(estate["a"], change="breaking")


def test_api_breaking_change_reaches_users_and_their_downstream_consumers(db):
    estate = build_flows([
        ("user", "a", "b", ["invoice"]),
        ("consumer", "b", "c", ["invoice"]),
        ("bystander", "b", "c", ["payment"]),
    ])
    api = ApiFactory(slug="b-api", name="B API", provider_system=estate["b"])
    estate["user"].apis.add(api)
    result = impact.analyse(api, depth=None)
    assert slugs(result["direct"]) == ["user"] and slugs(result["downstream"]) == ["consumer"]
    assert result["direct"][0]["path_text"] == "USER uses B API"
    # The provider's outage reaches the API's users too.
    assert "user" in slugs(impact.analyse(estate["b"])["direct"])


def test_ranked_by_tier_finance_workflows_then_sla(db):
    estate = build_flows([
        ("t2-plain", "a", "z", ["invoice"]),
        ("t2-sla", "a", "z", ["invoice"]),
        ("t2-workflow", "a", "z", ["invoice"]),
        ("t2-finance", "a", "z", ["invoice"]),
        ("t3", "a", "z", ["invoice"], {"criticality": 3}),
        ("t1", "a", "z", ["invoice"], {"criticality": 1}),
    ])
    SlaFactory(integration=estate["t2-sla"])
    estate["t2-workflow"].workflows.add(WorkflowFactory(slug="close", name="Close"))
    estate["t2-finance"].apis.add(ApiFactory(slug="ledger", finance_sensitive=True, provider_system=estate["z"]))
    result = impact.analyse(estate["a"])
    assert [i["slug"] for i in result["direct"]] == ["t1", "t2-finance", "t2-workflow", "t2-sla", "t2-plain", "t3"]
    finance = result["direct"][1]
    assert finance["finance_critical"] and finance["consequence"] == "Tier 2 · finance-critical · 0 workflows · no SLA"
    assert result["direct"][3]["consequence"].startswith("Tier 2 · 0 workflows · SLA ")


def test_integration_down_affects_its_workflows_and_what_its_target_entity_feeds(db):
    estate = build_flows([("down", "a", "b", ["invoice"]), ("fed", "b", "c", ["invoice"])])
    estate["down"].workflows.add(WorkflowFactory(slug="bill", name="Billing"))
    estate["fed"].workflows.add(WorkflowFactory(slug="collect", name="Collections"))
    result = impact.analyse(estate["down"])
    assert result["direct"] == [] and slugs(result["downstream"]) == ["fed"]
    assert slugs(result["workflows"]) == ["bill", "collect"]
    assert result["change_label"] == "Integration down of Integration DOWN"


def test_an_integration_without_entities_is_flagged(db):
    estate = build_flows([("silent", "a", "b", [])])
    item = impact.analyse(estate["a"])["direct"][0]
    assert item["downstream_unknown"] and item["entities"] == []


# --- the small estate -------------------------------------------------------------------


@pytest.fixture
def estate(db):
    return build_estate()


def test_system_impact_on_the_small_estate(estate):
    result = impact.analyse(estate.netsuite)
    # time-sync delivers into NetSuite (and uses its API), invoice-to-bi reads from it;
    # the retired old-sync is not affected.
    assert slugs(result["direct"]) == ["invoice-to-bi", "time-sync"]
    assert slugs(result["workflows"]) == ["period-close", "time-to-invoice"]
    assert slugs(result["teams"]) == ["fin", "ops"]
    assert slugs(result["apis"]) == ["netsuite-rest"]
    by_slug = {i["slug"]: i for i in result["direct"]}
    assert by_slug["invoice-to-bi"]["path_text"] == "Invoice to BI reads Invoice from NetSuite"
    assert by_slug["time-sync"]["path_text"] == "Time sync delivers Time entry into NetSuite"
    ops = next(t for t in result["teams"] if t["slug"] == "ops")
    assert ops["reason"] == "owns Integration Invoice to BI (hop 1)"


def test_time_entries_do_not_reach_an_invoice_reader_without_a_derivation(estate, cast):
    # The old rule (anything reading from the target) made every system affect everything.
    assert hops(impact.analyse(estate.certinia_api, depth=None)) == {"opp-to-project": 1}
    assert hops(impact.analyse(estate.mulesoft, depth=None)) == {"time-sync": 1}
    services.create_derivation(actor=cast["architect"], source_entity=CanonicalEntity.objects.get(slug="time-entry"),
                               derived_entity=CanonicalEntity.objects.get(slug="invoice"))
    assert hops(impact.analyse(estate.mulesoft, depth=None)) == {"time-sync": 1, "invoice-to-bi": 2}


def test_unused_system_affects_nothing_but_its_owner_is_listed(estate):
    result = impact.analyse(estate.old_crm)
    assert result["direct"] == [] and result["workflows"] == []
    assert slugs(result["teams"]) == ["sales"]


# --- the demo estate --------------------------------------------------------------------


def _nightly(schedule: str) -> bool:
    parts = schedule.split()
    return len(parts) == 5 and parts[1].isdigit() and parts[2:] == ["*", "*", "*"]


def test_demo_estate_a_nightly_tier_3_batch_does_not_reach_the_estate(cast, db):
    demo.load()
    live = Integration.objects.exclude(lifecycle="retired").count()
    nightly = [i for i in Integration.objects.filter(criticality=3, pattern__in=["batch", "file"],
                                                     lifecycle__in=impact.RUNNING) if _nightly(i.schedule)]
    assert nightly, "the demo estate has a nightly tier-3 batch"
    for integration in nightly:
        result = impact.analyse(integration, depth=None)
        assert result["counts"]["downstream"] <= live // 4, (integration.name, result["counts"])
        assert result["counts"]["workflows"] < 9
    # No integration going down reaches every other one, however far it is followed.
    for integration in Integration.objects.filter(lifecycle__in=impact.RUNNING):
        assert impact.analyse(integration, depth=None)["counts"]["downstream"] < live // 2, integration.name


# --- queries and the reference walk -----------------------------------------------------


def naive_impact(system):
    """The same rules written the slow, obvious way (a query per pair), as a reference."""
    from django.db.models import Q

    live = Integration.objects.filter(lifecycle__in=impact.RUNNING)
    frontier = [(i, e) for i in live.filter(Q(source_system=system) | Q(target_system=system)
                                            | Q(middleware_system=system) | Q(apis__provider_system=system)).distinct()
                for e in i.entities.all()]
    seen = {i.slug for i, _ in frontier}
    pairs = {(i.pk, e.pk) for i, e in frontier}
    while frontier:
        nxt = []
        for integration, entity in frontier:
            for follower in live.filter(source_system_id=integration.target_system_id, entities=entity):
                if (follower.pk, entity.pk) not in pairs:
                    pairs.add((follower.pk, entity.pk))
                    seen.add(follower.slug)
                    nxt.append((follower, entity))
        frontier = nxt
    return seen


def test_query_count_is_fixed_and_the_answer_matches_the_reference(db, django_assert_max_num_queries):
    big = build_large_estate(200)
    system = big.systems[0]
    with django_assert_max_num_queries(12) as ctx:
        result = impact.analyse(system, depth=None)
    fixed = len(ctx.captured_queries)
    assert set(hops(result)) == naive_impact(system)
    assert result["max_hop"] >= 3  # the walk really goes downstream
    with django_assert_max_num_queries(fixed):
        impact.analyse(big.apis[3], depth=None)
    with django_assert_max_num_queries(fixed):
        impact.analyse(big.integrations[5], depth=None)
