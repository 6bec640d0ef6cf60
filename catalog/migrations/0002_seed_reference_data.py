"""Seeds the reference data every firm shares: business domains, the canonical entities
of a professional-services data model and the workflows that move them."""

from django.db import migrations

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


def seed(apps, schema_editor):
    Domain = apps.get_model("catalog", "Domain")
    CanonicalEntity = apps.get_model("catalog", "CanonicalEntity")
    Workflow = apps.get_model("catalog", "Workflow")
    domains = {}
    for slug, name, description in DOMAINS:
        domains[slug], _ = Domain.objects.get_or_create(slug=slug, defaults={"name": name, "description": description})
    for slug, name, domain, description in ENTITIES:
        CanonicalEntity.objects.get_or_create(
            slug=slug, defaults={"name": name, "domain": domains[domain], "description": description}
        )
    for slug, name, domain, description in WORKFLOWS:
        Workflow.objects.get_or_create(
            slug=slug, defaults={"name": name, "domain": domains[domain], "description": description}
        )


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
