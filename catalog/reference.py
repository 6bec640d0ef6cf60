"""The reference data every firm shares: business domains, the canonical entities of a
professional-services data model and the workflows that move them. Seeded by migration
0002, and again after a ``migrate`` or ``flush`` that left the catalog without any domain
(post_migrate): a database that was emptied (``manage.py flush``, a ``transaction=True``
test) gets them back, while an entity a firm deleted on purpose is not brought back by the
next deploy's ``migrate``."""

DOMAINS = [
    ("finance", "Finance", "Billing, revenue, tax, payments and the general ledger."),
    ("delivery", "Delivery", "Projects, resources, time and milestones."),
    ("sales", "Sales", "Clients, opportunities and contracts."),
    ("people", "People", "Workers, payroll and cost centres."),
]

ENTITIES = [
    ("client", "Client", "sales", "A customer organisation the firm bills."),
    ("legal-entity", "Legal entity", "finance", "A company of the firm that contracts, bills and books revenue."),
    ("contract", "Contract", "sales", "A signed statement of work or master agreement."),
    ("opportunity", "Opportunity", "sales", "A potential engagement in the sales pipeline."),
    ("project", "Project", "delivery", "An engagement being delivered, with a project code."),
    ("resource", "Resource", "people", "A person (or role) who can be staffed on projects."),
    ("rate-card", "Rate card", "finance", "Bill and cost rates by role, region and currency."),
    ("time-entry", "Time entry", "delivery", "Hours a resource worked on a project."),
    ("expense", "Expense", "delivery", "A billable or non-billable expense claim."),
    ("milestone", "Milestone", "delivery", "A billable or revenue-recognition event on a project."),
    ("purchase-order", "Purchase order", "finance", "A client PO, or a firm PO to a supplier."),
    ("invoice", "Invoice", "finance", "A bill sent to a client."),
    ("payment", "Payment", "finance", "Cash received against invoices."),
    ("revenue-schedule", "Revenue schedule", "finance", "When revenue is recognised for a contract or project."),
    ("tax-code", "Tax code", "finance", "Tax treatment applied to invoice lines."),
    ("cost-center", "Cost center", "finance", "Where costs are booked in the ledger."),
]

WORKFLOWS = [
    ("quote-to-cash", "Quote-to-cash", "finance", "From opportunity to cash collected."),
    ("client-onboarding", "Client onboarding", "sales", "New client and legal entity set up across systems."),
    ("project-setup", "Project setup", "delivery", "Closed-won deal becomes a staffed, billable project."),
    ("time-to-invoice", "Time-to-invoice", "finance", "Approved time becomes invoice lines in ERP."),
    ("milestone-to-revenue", "Milestone-to-revenue", "finance", "Completed milestones become invoices and revenue."),
    ("resource-to-delivery", "Resource-to-delivery", "delivery", "Workers and skills flow from HR to staffing."),
    ("procure-to-pay", "Procure-to-pay", "finance", "Requisitions become POs, receipts and supplier payments."),
    ("collections", "Collections", "finance", "Overdue invoices are chased and payments applied."),
    ("period-close", "Period close", "finance", "Month-end accruals, revenue and reconciliations."),
]



def seed(apps=None, **_kwargs):
    """Create the domains, entities and workflows that are missing, by slug."""
    if apps is None:
        from django.apps import apps
    Domain = apps.get_model("catalog", "Domain")
    CanonicalEntity = apps.get_model("catalog", "CanonicalEntity")
    Workflow = apps.get_model("catalog", "Workflow")
    domains = {}
    for slug, name, description in DOMAINS:
        domains[slug], _ = Domain.objects.get_or_create(slug=slug, defaults={"name": name, "description": description})
    for model, rows in ((CanonicalEntity, ENTITIES), (Workflow, WORKFLOWS)):
        have = set(model.objects.filter(slug__in=[r[0] for r in rows]).values_list("slug", flat=True))
        model.objects.bulk_create([
            model(slug=slug, name=name, domain=domains[domain], description=description)
            for slug, name, domain, description in rows if slug not in have
        ])


def seed_after_flush(sender, apps=None, **kwargs):
    """post_migrate: seed an emptied catalog (see the module docstring). ``migrate`` sends
    its migration state as ``apps``; ``flush`` sends none (the installed models serve)."""
    if apps is None:
        from django.apps import apps
    try:
        Domain = apps.get_model("catalog", "Domain")
    except LookupError:  # catalog not migrated in this run
        return
    if not Domain.objects.using(kwargs.get("using", "default")).exists():
        seed(apps)
