"""Demo stewardship data: systems of record for most canonical entities (one left without,
one proposal pending, one regional SoR on a retiring system), schema subjects with
approved versions, a version in review with a breaking change, and an API subject.

Idempotent: SoR slices and subjects are looked up by natural key and skipped when they
exist. Catalog objects are looked up by the seeded slugs and by system category; whatever
is absent is skipped."""

import copy

from django.contrib.auth import get_user_model

from catalog.models import Api, CanonicalEntity, System

from . import services
from .choices import SorStatus
from .models import SchemaSubject, SorAssignment

# entity slug -> system categories in order of preference
SOR_PLAN = {
    "client": ["crm"], "opportunity": ["crm"], "contract": ["clm", "crm"], "legal-entity": ["erp"],
    "project": ["psa"], "time-entry": ["psa"], "expense": ["psa"], "milestone": ["psa"], "resource": ["hris"],
    "rate-card": ["crm"], "invoice": ["erp", "billing"], "payment": ["erp"], "revenue-schedule": ["erp"],
    "tax-code": ["tax", "erp"], "cost-center": ["hris", "erp"],
    # "purchase-order" is deliberately left without a system of record (a finding on the matrix).
}
PENDING = ("rate-card", ["psa"], "Rate cards are maintained per project in PSA since the 2026 pricing change.")
REGIONAL = ("invoice", "region", "EMEA", "all", "Two EMEA legal entities still invoice from the legacy SAP ledger.")

DRAFT7 = "http://json-schema.org/draft-07/schema#"
CLIENT_V1 = {
    "$schema": DRAFT7, "title": "Client", "type": "object", "additionalProperties": False,
    "required": ["id", "name", "billingCountry"],
    "properties": {
        "id": {"type": "string", "pattern": "^CL-[0-9]{6}$"},
        "name": {"type": "string", "maxLength": 255},
        "billingCountry": {"type": "string", "minLength": 2, "maxLength": 2},
        "vatNumber": {"type": "string"},
        "segment": {"type": "string", "enum": ["enterprise", "mid-market", "public-sector"]},
    },
}
INVOICE_V1 = {
    "$schema": DRAFT7, "title": "Invoice", "type": "object", "additionalProperties": False,
    "required": ["number", "clientId", "currency", "lines"],
    "properties": {
        "number": {"type": "string", "pattern": "^INV-[0-9]+$"},
        "clientId": {"type": "string"},
        "currency": {"type": "string", "enum": ["USD", "EUR", "GBP"]},
        "poNumber": {"type": "string", "maxLength": 40},
        "memo": {"type": "string", "maxLength": 500},
        "lines": {
            "type": "array", "minItems": 1,
            "items": {
                "type": "object", "required": ["description", "amount"], "additionalProperties": False,
                "properties": {
                    "description": {"type": "string", "maxLength": 200},
                    "amount": {"type": "number"},
                    "taxCode": {"type": "string"},
                    "projectCode": {"type": "string"},
                },
            },
        },
    },
}


def _invoice_v2():
    """v2: CHF, a due date, the issuing legal entity, and tax codes from the tax engine's
    list (NetSuite's codes after the UK VAT rename: the retired GB-VAT20 is refused)."""
    from controlplane.scenario.story import LEGAL_ENTITIES, TAX_CODES

    doc = copy.deepcopy(INVOICE_V1)
    doc["properties"]["currency"]["enum"] = ["USD", "EUR", "GBP", "CHF"]
    doc["properties"]["dueDate"] = {"type": "string", "format": "date"}
    doc["properties"]["legalEntity"] = {"type": "string", "enum": sorted(LEGAL_ENTITIES)}
    doc["properties"]["lines"]["items"]["properties"]["taxCode"] = {"type": "string", "enum": TAX_CODES}
    return doc


def _invoice_v3_breaking():
    doc = _invoice_v2()
    doc["properties"]["memo"]["maxLength"] = 255  # the new ERP field is shorter
    doc["properties"]["lines"]["items"]["required"] = ["description", "amount", "taxCode"]
    return doc


TIME_ENTRY_V1 = {
    "$schema": DRAFT7, "title": "Time entry", "type": "object",
    "required": ["id", "resourceId", "projectCode", "date", "hours"],
    "properties": {
        "id": {"type": "string"}, "resourceId": {"type": "string"}, "projectCode": {"type": "string"},
        "date": {"type": "string", "format": "date"},
        "hours": {"type": "number", "minimum": 0, "maximum": 24},
        "billable": {"type": "boolean", "default": True},
        "status": {"type": "string", "enum": ["submitted", "approved", "rejected"]},
    },
}
PROJECT_V1 = {
    "$schema": DRAFT7, "title": "Project", "type": "object",
    "required": ["code", "name", "clientId"],
    "properties": {
        "code": {"type": "string", "pattern": "^P-[0-9]{5}$"}, "name": {"type": "string"},
        "clientId": {"type": "string"}, "billingType": {"type": "string", "enum": ["T&M", "fixed-fee", "retainer"]},
        "startDate": {"type": "string", "format": "date"},
    },
}
INVOICE_API_V1 = {
    "openapi": "3.0.3",
    "info": {"title": "Invoice API", "version": "1.0.0"},
    "paths": {
        "/invoices": {
            "post": {
                "operationId": "createInvoice",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Invoice"}}}},
                "responses": {"201": {"description": "Created", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Invoice"}}}}},
            }
        },
        "/invoices/{number}": {
            "get": {
                "operationId": "getInvoice",
                "parameters": [{"name": "number", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "The invoice", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Invoice"}}}}},
            }
        },
    },
    "components": {"schemas": {"Invoice": {
        "type": "object", "required": ["number", "total"],
        "properties": {"number": {"type": "string"}, "total": {"type": "number"}, "status": {"type": "string", "enum": ["draft", "posted", "paid"]}},
    }}},
}

SUBJECTS = [
    # slug, name, entity slug, [documents approved in order], in-review document, draft document
    ("client", "Client", "client", [CLIENT_V1], None, None),
    ("invoice", "Invoice", "invoice", [INVOICE_V1, _invoice_v2()], _invoice_v3_breaking(), None),
    ("time-entry", "Time entry", "time-entry", [TIME_ENTRY_V1], None, None),
    ("project", "Project", "project", [PROJECT_V1], None, {**PROJECT_V1, "description": "Adds a description (draft)."}),
]


def _system_for(categories):
    for category in categories:
        system = (System.objects.filter(category=category).exclude(lifecycle__in=["retiring", "retired"])
                  .order_by("name").first())
        if system:
            return system
    return None


def _sor(stdout, proposer, decider):
    made = 0
    for slug, categories in SOR_PLAN.items():
        entity = CanonicalEntity.objects.filter(slug=slug).first()
        system = _system_for(categories)
        if not entity or not system:
            continue
        if SorAssignment.objects.filter(entity=entity, scope_type="global", scope_value="", attribute_group="all",
                                        status=SorStatus.APPROVED).exists():
            continue
        proposal = services.propose_sor(actor=proposer, entity=entity, system=system, steward=proposer,
                                        comments="Initial system-of-record inventory.")
        services.approve_sor(actor=decider, assignment=proposal, comment="Confirmed in the data council.")
        made += 1
    slug, categories, comment = PENDING
    entity, system = CanonicalEntity.objects.filter(slug=slug).first(), _system_for(categories)
    if entity and system and not SorAssignment.objects.filter(entity=entity, status=SorStatus.PROPOSED).exists():
        services.propose_sor(actor=decider, entity=entity, system=system, steward=decider, comments=comment)
        made += 1
    slug, scope_type, scope_value, group, comment = REGIONAL
    entity = CanonicalEntity.objects.filter(slug=slug).first()
    legacy = System.objects.filter(category="erp", lifecycle="retiring").order_by("name").first()
    if entity and legacy and not SorAssignment.objects.filter(entity=entity, scope_type=scope_type,
                                                             scope_value=scope_value).exists():
        proposal = services.propose_sor(actor=proposer, entity=entity, system=legacy, scope_type=scope_type,
                                        scope_value=scope_value, attribute_group=group, comments=comment)
        services.approve_sor(actor=decider, assignment=proposal)
        made += 1
    # a "tax attributes" slice owned by the tax engine
    entity, tax = CanonicalEntity.objects.filter(slug="invoice").first(), _system_for(["tax"])
    if entity and tax and not SorAssignment.objects.filter(entity=entity, attribute_group="tax attributes").exists():
        proposal = services.propose_sor(actor=proposer, entity=entity, system=tax, attribute_group="tax attributes",
                                        comments="Tax codes and amounts are decided by the tax engine.")
        services.approve_sor(actor=decider, assignment=proposal)
        made += 1
    stdout.write(f"stewardship: {SorAssignment.objects.count()} SoR assignments ({made} new)")


def _publish(subject, document, author, reviewers):
    """Create, submit and approve a version; each breaking finding is accepted first."""
    version = services.submit(actor=author, version=services.create_draft(actor=author, subject=subject, document=document))
    for finding in version.breaking_findings:
        services.accept_finding(actor=reviewers[0], version=version, finding_type=finding["type"], path=finding["path"],
                                justification="Demo history: every consumer was migrated before publication.")
    for reviewer in reviewers[: version.required_approvals]:
        version.refresh_from_db()
        version = services.approve(actor=reviewer, version=version, comment="Looks right.")
    return version


def _subjects(stdout, steward, steward2, author):
    made = 0
    for slug, name, entity_slug, approved, in_review, draft in SUBJECTS:
        entity = CanonicalEntity.objects.filter(slug=entity_slug).first()
        if not entity or SchemaSubject.objects.filter(slug=slug).exists():
            continue
        subject = services.create_subject(actor=steward, name=f"{name} (canonical)", slug=slug, format="json-schema",
                                          entity=entity, description=f"Canonical {name.lower()} exchanged between systems.")
        for document in approved:
            _publish(subject, document, author, [steward, steward2])
        if in_review:
            services.submit(actor=author, version=services.create_draft(
                actor=author, subject=subject, document=in_review,
                change_summary="Memo shortened to the new ERP limit; tax code now required on every line."))
        if draft:
            services.create_draft(actor=steward2, subject=subject, document=draft, change_summary="Work in progress.")
        made += 1
    api = (Api.objects.filter(slug="netsuite-suitetalk").first()
           or Api.objects.filter(style="rest", finance_sensitive=True).order_by("name").first()
           or Api.objects.filter(style="rest").order_by("name").first())
    if api and not SchemaSubject.objects.filter(slug="invoice-api").exists():
        subject = services.create_subject(actor=steward, name=f"{api.name} (invoices)", slug="invoice-api",
                                          format="openapi", api=api, description="The invoice operations of the ERP API.")
        _publish(subject, INVOICE_API_V1, author, [steward, steward2])
        made += 1
    stdout.write(f"stewardship: {SchemaSubject.objects.count()} schema subjects ({made} new)")


def _third_steward():
    """A third steward authors the demo versions, so the two demo stewards can both
    review them (finance-sensitive and tier-1 subjects need two approvals)."""
    from django.contrib.auth.models import Group

    from controlplane import roles
    from controlplane.management.commands.load_demo import DEMO_PASSWORD

    User = get_user_model()
    user, created = User.objects.get_or_create(
        username="steward3", defaults={"first_name": "Sol", "last_name": "Third-Steward", "email": "steward3@demo.example"}
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    group = Group.objects.filter(name=roles.STEWARD).first()
    if group:
        user.groups.add(group)
    return user


def load(stdout):
    User = get_user_model()
    steward = User.objects.filter(username="steward").first()
    steward2 = User.objects.filter(username="steward2").first()
    if not steward or not steward2:
        stdout.write("stewardship: demo stewards missing; skipped")
        return
    _sor(stdout, steward, steward2)
    _subjects(stdout, steward, steward2, _third_steward())
