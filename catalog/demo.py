"""Demo estate of a mid-size professional-services firm: CRM, PSA, ERP (plus a legacy SAP
module being retired), HRIS, payroll, tax, billing, procurement, CLM, a data warehouse and
an integration platform, with the APIs and integrations that glue them together.

Idempotent: objects are looked up by slug and created or updated through the services,
so a second load changes nothing and writes no audit rows. Reference data (entities,
workflows, domains) comes from the seed migration; anything missing is skipped."""

from decimal import Decimal

from django.contrib.auth import get_user_model

from controlplane.scenario.story import schedule_period_minutes

from . import services
from .models import Api, CanonicalEntity, Domain, Integration, System, Team, TeamMember, Workflow

TEAMS = [
    # slug, name, email, chat, parent, description
    ("enterprise-architecture", "Enterprise Architecture", "ea@firm.example", "#ea-council", None,
     "Owns the integration strategy, the catalog and the API-led connectivity standards."),
    ("integration-platform", "Integration Platform", "ipaas@firm.example", "#integration-platform",
     "enterprise-architecture",
     "Runs MuleSoft and the process/experience APIs; first line for integration incidents."),
    ("finance-systems", "Finance Systems", "finsys@firm.example", "#finance-systems", None,
     "NetSuite, Zuora, Avalara and the legacy SAP FI module; owns invoice and revenue flows."),
    ("revenue-operations", "Revenue Operations", "revops@firm.example", "#revops", None,
     "Salesforce and DocuSign CLM: pipeline, quotes, contracts and rate cards."),
    ("delivery-systems", "Delivery Systems", "psa-team@firm.example", "#psa-support", None,
     "Certinia PSA: projects, resourcing, timecards and milestones."),
    ("people-systems", "People Systems", "hris@firm.example", "#people-systems", None,
     "Workday HCM and ADP payroll; worker and cost-centre master data."),
    ("data-analytics", "Data & Analytics", "data@firm.example", "#data-platform", None,
     "Snowflake warehouse, finance data marts and executive dashboards."),
    ("procurement-systems", "Procurement Systems", "p2p@firm.example", "#procure-to-pay", "finance-systems",
     "Coupa and the supplier side of procure-to-pay."),
]

# username -> [(team slug, role)]
MEMBERS = {
    "architect": [("enterprise-architecture", "Lead architect"), ("integration-platform", "Architect on call")],
    "steward": [("finance-systems", "Data steward (finance)"), ("data-analytics", "Data steward")],
    "steward2": [("delivery-systems", "Data steward (delivery)"), ("people-systems", "Data steward (people)")],
    "finance": [("finance-systems", "Billing operations lead")],
    "executive": [("finance-systems", "Executive sponsor (CFO office)")],
}
NAMED_MEMBERS = [
    ("integration-platform", "Priya Raman", "priya.raman@firm.example", "MuleSoft platform engineer"),
    ("integration-platform", "Tom Becker", "tom.becker@firm.example", "Integration developer"),
    ("revenue-operations", "Laura Chen", "laura.chen@firm.example", "Salesforce admin"),
    ("delivery-systems", "Marco Rossi", "marco.rossi@firm.example", "Certinia PSA consultant"),
    ("people-systems", "Aisha Okafor", "aisha.okafor@firm.example", "Workday integrations analyst"),
    ("data-analytics", "Jonas Weber", "jonas.weber@firm.example", "Analytics engineer"),
    ("procurement-systems", "Elena Petrova", "elena.petrova@firm.example", "Coupa administrator"),
]

DOMAIN_OWNERS = {"finance": "finance-systems", "delivery": "delivery-systems", "sales": "revenue-operations",
                 "people": "people-systems"}
WORKFLOW_OWNERS = {
    "quote-to-cash": "finance-systems", "client-onboarding": "revenue-operations", "project-setup": "delivery-systems",
    "time-to-invoice": "finance-systems", "milestone-to-revenue": "finance-systems",
    "resource-to-delivery": "people-systems", "procure-to-pay": "procurement-systems", "collections": "finance-systems",
    "period-close": "finance-systems",
}

SYSTEMS = [
    # slug, name, vendor, product, category, deployment, lifecycle, team, domain, business owner, residency, limits, desc
    ("salesforce", "Salesforce Sales Cloud", "Salesforce", "Sales Cloud", "crm", "cloud", "active",
     "revenue-operations", "sales", "Chief Revenue Officer", "US", "100,000 API calls / 24h (Enterprise)",
     "System of record for clients, opportunities and quotes."),
    ("certinia-psa", "Certinia PSA", "Certinia", "PSA (on Salesforce)", "psa", "cloud", "active",
     "delivery-systems", "delivery", "COO", "US", "Shares the Salesforce org's API limits",
     "Projects, assignments, timecards, expenses and milestones."),
    ("netsuite", "NetSuite ERP", "Oracle", "NetSuite OneWorld", "erp", "cloud", "active", "finance-systems",
     "finance", "Group Financial Controller", "US", "10 concurrent SuiteTalk requests per account",
     "General ledger, AR/AP, invoices and revenue recognition (ARM) for all legal entities."),
    ("sap-fi-legacy", "SAP ECC FI (legacy EMEA)", "SAP", "ECC 6.0 FI/CO", "erp", "on_prem", "retiring",
     "finance-systems", "finance", "EMEA Finance Director", "EU", "Batch windows 01:00-04:00 CET only",
     "Legacy ledger for two EMEA legal entities; being migrated to NetSuite by Q3."),
    ("workday", "Workday HCM", "Workday", "HCM", "hris", "cloud", "active", "people-systems", "people",
     "Chief People Officer", "EU", "Report-as-a-service: 10 concurrent requests",
     "Workers, job profiles, cost centres and org structure."),
    ("adp", "ADP Workforce Now", "ADP", "Workforce Now", "payroll", "cloud", "active", "people-systems", "people",
     "Payroll Manager", "US", "Marketplace API: 30 req/min", "US payroll and benefits."),
    ("avalara", "Avalara AvaTax", "Avalara", "AvaTax", "tax", "cloud", "active", "finance-systems", "finance",
     "Head of Tax", "US", "Unlimited transactions, 2,000 req/min", "Sales tax and VAT calculation for invoices."),
    ("zuora", "Zuora Billing", "Zuora", "Billing", "billing", "cloud", "active", "finance-systems", "finance",
     "Billing Operations Lead", "US", "Tenant limit 40 concurrent requests",
     "Subscription and retainer billing for managed-services contracts."),
    ("coupa", "Coupa Procurement", "Coupa", "Procure-to-Pay", "procurement", "cloud", "active",
     "procurement-systems", "finance", "Procurement Director", "EU", "25 req/s per instance",
     "Requisitions, supplier POs, receipts and supplier invoices."),
    ("docusign-clm", "DocuSign CLM", "DocuSign", "CLM", "clm", "cloud", "active", "revenue-operations", "sales",
     "General Counsel", "US", "1,000 req/hour per account", "Contract authoring, approval and signature."),
    ("snowflake", "Snowflake Data Cloud", "Snowflake", "Enterprise edition", "data_store", "cloud", "active",
     "data-analytics", "finance", "Chief Data Officer", "EU", "Warehouse-size dependent",
     "Finance and delivery data marts; the source for KPI dashboards."),
    ("mulesoft", "MuleSoft Anypoint Platform", "Salesforce", "Anypoint Platform", "middleware", "hybrid", "active",
     "integration-platform", None, "Head of Integration", "EU", "vCore based; 8 vCores in production",
     "Integration platform hosting the process and experience APIs."),
]

OPENAPI_INVOICE = """openapi: 3.0.3
info:
  title: Invoice Process API
  version: 2.1.0
paths:
  /invoices:
    post:
      summary: Create an invoice in the ERP from approved billing events
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: '#/components/schemas/InvoiceRequest'}
      responses:
        '201': {description: Invoice created}
        '422': {description: Rejected (tax code or legal entity mismatch)}
  /invoices/{id}:
    get:
      summary: Read an invoice and its status
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
      responses:
        '200': {description: The invoice}
components:
  schemas:
    InvoiceRequest:
      type: object
      required: [legalEntity, client, currency, lines]
      properties:
        legalEntity: {type: string}
        client: {type: string}
        currency: {type: string, pattern: '^[A-Z]{3}$'}
        purchaseOrder: {type: string}
        lines:
          type: array
          items:
            type: object
            required: [project, amount, taxCode]
            properties:
              project: {type: string}
              amount: {type: number}
              taxCode: {type: string}
"""

# slug, name, provider, layer, style, version, lifecycle, tier, finance, auth, team (None -> provider's), description
APIS = [
    ("sfdc-rest", "Salesforce REST API", "salesforce", "system", "rest", "v60.0", "published", 1, False,
     "OAuth2 JWT bearer", None, "Accounts, opportunities, quotes and custom objects."),
    ("sfdc-soap-partner", "Salesforce SOAP Partner API", "salesforce", "system", "soap", "v45.0", "deprecated", 2,
     False, "Session ID login", None, "Old SOAP endpoint still used by the legacy SAP bridge; replace with REST."),
    ("sfdc-platform-events", "Salesforce Platform Events", "salesforce", "system", "event", "v60.0", "published", 1,
     False, "OAuth2 JWT bearer", None, "Opportunity closed-won and account-changed events (CometD / Pub/Sub API)."),
    ("psa-rest", "Certinia PSA REST API", "certinia-psa", "system", "rest", "v58", "published", 1, True,
     "OAuth2 JWT bearer", None, "Projects, assignments, timecards, expenses, milestones."),
    ("psa-billing-events", "Certinia billing events", "certinia-psa", "system", "event", "1.2", "published", 1, True,
     "OAuth2 JWT bearer", None, "Billing events released from approved time, expenses and milestones."),
    ("psa-resource-requests", "Certinia resource requests API", "certinia-psa", "system", "rest", "v58", "published",
     2, False, "OAuth2 JWT bearer", None, "Resource requests and skills used by staffing."),
    ("netsuite-suitetalk", "NetSuite SuiteTalk REST", "netsuite", "system", "rest", "2024.2", "published", 1, True,
     "OAuth 1.0a token-based auth", None, "Customers, invoices, journal entries, payments."),
    ("netsuite-restlets", "NetSuite RESTlets (custom)", "netsuite", "system", "rest", "3.4", "published", 1, True,
     "OAuth 1.0a token-based auth", None, "Custom endpoints for bulk invoice and revenue-arrangement creation."),
    ("netsuite-saved-search-export", "NetSuite saved-search export", "netsuite", "system", "batch_file", "1.0",
     "published", 2, True, "SFTP key", None, "Nightly CSV exports of GL and AR balances."),
    ("sap-fi-rfc", "SAP FI RFC/BAPI", "sap-fi-legacy", "system", "soap", "ECC6", "deprecated", 1, True,
     "SAP user + SNC", None, "BAPI_ACC_DOCUMENT_POST for EMEA invoices; frozen until decommission."),
    ("sap-fi-idoc", "SAP FI IDoc file drop", "sap-fi-legacy", "system", "batch_file", "ECC6", "deprecated", 2, True,
     "SFTP key", None, "FIDCC1 IDoc files for GL postings."),
    ("workday-raas", "Workday RaaS worker report", "workday", "system", "rest", "v42.1", "published", 2, False,
     "OAuth2 refresh token (ISU)", None, "Custom report of active workers, cost centres and managers."),
    ("workday-soap-hr", "Workday Human Resources SOAP", "workday", "system", "soap", "v42.1", "published", 2, False,
     "WS-Security (ISU)", None, "Hire, terminate and job-change business processes."),
    ("adp-workers", "ADP Workers API", "adp", "system", "rest", "v2", "published", 2, True, "OAuth2 mTLS", None,
     "Worker demographics and pay data."),
    ("adp-payroll-output", "ADP payroll output file", "adp", "system", "batch_file", "1.0", "published", 2, True,
     "SFTP key", None, "Payroll journal file after each pay run."),
    ("avalara-avatax", "Avalara AvaTax REST v2", "avalara", "system", "rest", "v2", "published", 1, True,
     "HTTP Basic (account/license key)", None, "Tax calculation and commit for invoice transactions."),
    ("zuora-rest", "Zuora REST API", "zuora", "system", "rest", "2024-05-20", "published", 1, True,
     "OAuth2 client credentials", None, "Subscriptions, bill runs and invoices."),
    ("zuora-callouts", "Zuora callout notifications", "zuora", "system", "event", "1.0", "published", 2, True,
     "HMAC signature", None, "Invoice posted and payment received notifications."),
    ("coupa-core", "Coupa Core API", "coupa", "system", "rest", "v1", "published", 2, True, "OAuth2 client credentials",
     None, "Requisitions, purchase orders, receipts, supplier invoices."),
    ("docusign-clm-api", "DocuSign CLM API", "docusign-clm", "system", "rest", "v201411", "published", 2, False,
     "OAuth2 JWT grant", None, "Contract documents, attributes and workflow status."),
    ("docusign-connect", "DocuSign Connect webhooks", "docusign-clm", "system", "event", "2.1", "published", 2, False,
     "HMAC signature", None, "Envelope completed events."),
    ("snowflake-sql-api", "Snowflake SQL API", "snowflake", "system", "rest", "v2", "published", 3, True,
     "Key-pair JWT", "data-analytics", "Statement execution for loads and reverse-ETL."),
    ("snowflake-snowpipe", "Snowpipe ingestion", "snowflake", "system", "batch_file", "1.0", "published", 2, True,
     "Key-pair JWT", "data-analytics", "Continuous file ingestion from the landing bucket."),
    # Process layer, hosted on MuleSoft.
    ("client-process", "Client Process API", "mulesoft", "process", "rest", "1.3.0", "published", 1, False,
     "OAuth2 client credentials", None, "Creates and syncs clients and legal entities across CRM, PSA and ERP."),
    ("project-process", "Project Process API", "mulesoft", "process", "rest", "1.1.0", "published", 1, False,
     "OAuth2 client credentials", None, "Turns closed-won opportunities into PSA projects and ERP project records."),
    ("time-billing-process", "Time & Billing Process API", "mulesoft", "process", "event", "2.0.0", "published", 1,
     True, "OAuth2 client credentials", None, "Routes PSA billing events to ERP invoices, with tax calculation."),
    ("invoice-process", "Invoice Process API", "mulesoft", "process", "rest", "2.1.0", "published", 1, True,
     "OAuth2 client credentials", None, "One way to create invoices in NetSuite or (legacy) SAP."),
    ("revenue-process", "Revenue Process API", "mulesoft", "process", "rest", "1.0.2", "published", 1, True,
     "OAuth2 client credentials", None, "Milestones and percent-complete to revenue schedules."),
    ("worker-process", "Worker Process API", "mulesoft", "process", "rest", "1.4.0", "published", 2, False,
     "OAuth2 client credentials", None, "Workers and cost centres from Workday to PSA, ERP and payroll."),
    ("procurement-process", "Procurement Process API", "mulesoft", "process", "rest", "1.0.0", "published", 2, True,
     "OAuth2 client credentials", "procurement-systems", "Supplier POs and invoices from Coupa to the ledger."),
    ("tax-process", "Tax Calculation Process API", "mulesoft", "process", "rest", "1.2.0", "published", 1, True,
     "OAuth2 client credentials", None, "Wraps AvaTax with tax-code mapping per legal entity."),
    ("contract-process", "Contract Process API", "mulesoft", "process", "rest", "0.9.0", "draft", 2, False,
     "OAuth2 client credentials", None, "Signed contract terms into CRM and billing (in design)."),
    # Experience layer.
    ("exec-dashboard-exp", "Executive Dashboard Experience API", "mulesoft", "experience", "graphql", "1.0.0",
     "published", 3, True, "OAuth2 authorization code (SSO)", "data-analytics",
     "Aggregated utilisation, WIP and DSO for the leadership dashboards."),
    ("client-portal-exp", "Client Billing Portal Experience API", "mulesoft", "experience", "rest", "1.2.0",
     "published", 2, True, "OAuth2 authorization code (client SSO)", None,
     "Invoices, statements and payment status for clients."),
    ("mobile-time-exp", "Mobile Time Entry Experience API", "mulesoft", "experience", "rest", "1.0.0", "published", 2,
     False, "OAuth2 PKCE", None, "Timesheet capture from the consultants' mobile app."),
]

SLA_BY_TIER = {
    1: {"availability_target": Decimal("99.900"), "p95_latency_ms": 800, "max_sync_lag_minutes": 15,
        "exception_resolution_hours": 24, "measurement_window": "7d"},
    2: {"availability_target": Decimal("99.500"), "p95_latency_ms": 2000, "max_sync_lag_minutes": 60,
        "exception_resolution_hours": 48, "measurement_window": "30d"},
    3: {"availability_target": Decimal("99.000"), "p95_latency_ms": None, "max_sync_lag_minutes": 240,
        "exception_resolution_hours": 120, "measurement_window": "30d"},
}

# slug, name, source, target, middleware, apis, entities, workflows, pattern, schedule, trigger, team, tier,
# lifecycle, sla ("tier" = SLA of the tier, None = no SLA, or a dict of overrides)
INTEGRATIONS = [
    ("sfdc-to-psa-client", "Client sync: Salesforce → Certinia", "salesforce", "certinia-psa", "mulesoft",
     ["sfdc-platform-events", "client-process", "psa-rest"], ["client", "legal-entity"], ["client-onboarding"],
     "event", "", "Account created or changed", "integration-platform", 1, "active", "tier"),
    ("sfdc-to-netsuite-customer", "Customer sync: Salesforce → NetSuite", "salesforce", "netsuite", "mulesoft",
     ["sfdc-platform-events", "client-process", "netsuite-suitetalk"], ["client", "legal-entity"],
     ["client-onboarding", "quote-to-cash"], "event", "", "Account approved by credit control",
     "integration-platform", 1, "active", "tier"),
    ("sfdc-to-psa-project", "Project setup: closed-won → Certinia project", "salesforce", "certinia-psa", "mulesoft",
     ["sfdc-platform-events", "project-process", "psa-rest"], ["opportunity", "project", "rate-card"],
     ["project-setup", "quote-to-cash"], "event", "", "Opportunity closed-won", "integration-platform", 1, "active",
     "tier"),
    ("psa-to-netsuite-project", "Project master: Certinia → NetSuite", "certinia-psa", "netsuite", "mulesoft",
     ["project-process", "netsuite-suitetalk"], ["project", "cost-center"], ["project-setup"], "api_sync",
     "*/30 * * * *", "", "integration-platform", 2, "active", "tier"),
    ("sfdc-rate-cards-to-psa", "Rate cards: Salesforce → Certinia", "salesforce", "certinia-psa", "mulesoft",
     ["sfdc-rest", "psa-rest"], ["rate-card"], ["quote-to-cash", "project-setup"], "batch", "0 2 * * *", "",
     "revenue-operations", 2, "active", "tier"),
    ("psa-time-to-netsuite", "Approved time → NetSuite invoice lines", "certinia-psa", "netsuite", "mulesoft",
     ["psa-billing-events", "time-billing-process", "invoice-process", "netsuite-restlets"],
     ["time-entry", "project", "invoice"], ["time-to-invoice", "quote-to-cash"], "event", "",
     "Billing event released", "finance-systems", 1, "active", "tier"),
    ("psa-expenses-to-netsuite", "Billable expenses → NetSuite", "certinia-psa", "netsuite", "mulesoft",
     ["psa-billing-events", "time-billing-process", "netsuite-restlets"], ["expense", "invoice"],
     ["time-to-invoice"], "event", "", "Expense report approved", "finance-systems", 2, "active", "tier"),
    ("psa-milestones-to-netsuite", "Milestones → NetSuite invoices", "certinia-psa", "netsuite", "mulesoft",
     ["psa-billing-events", "invoice-process", "netsuite-restlets"], ["milestone", "invoice"],
     ["milestone-to-revenue", "quote-to-cash"], "event", "", "Milestone completed", "finance-systems", 1, "active",
     "tier"),
    ("psa-revenue-to-netsuite", "Revenue schedules → NetSuite ARM", "certinia-psa", "netsuite", "mulesoft",
     ["psa-rest", "revenue-process", "netsuite-restlets"], ["milestone", "revenue-schedule", "project"],
     ["milestone-to-revenue", "period-close"], "batch", "0 3 * * *", "", "finance-systems", 1, "active", "tier"),
    ("netsuite-tax-avalara", "Invoice tax calculation (NetSuite ↔ AvaTax)", "netsuite", "avalara", "mulesoft",
     ["tax-process", "avalara-avatax"], ["invoice", "tax-code", "legal-entity"], ["time-to-invoice", "quote-to-cash"],
     "api_sync", "", "Invoice saved", "finance-systems", 1, "active",
     {"availability_target": Decimal("99.950"), "p95_latency_ms": 400}),
    ("psa-invoice-tax-avalara", "PSA invoice tax preview (AvaTax)", "certinia-psa", "avalara", "mulesoft",
     ["tax-process", "avalara-avatax"], ["invoice", "tax-code"], ["time-to-invoice"], "api_sync", "",
     "Draft invoice previewed", "finance-systems", 2, "active", "tier"),
    ("netsuite-invoices-to-portal", "Invoices to the client billing portal", "netsuite", "mulesoft", None,
     ["netsuite-suitetalk", "client-portal-exp"], ["invoice", "payment", "client"], ["collections"], "api_sync",
     "*/15 * * * *", "", "integration-platform", 2, "active", "tier"),
    ("netsuite-payments-to-sfdc", "Payment status → Salesforce", "netsuite", "salesforce", "mulesoft",
     ["netsuite-suitetalk", "sfdc-rest"], ["payment", "invoice"], ["collections", "quote-to-cash"], "batch",
     "0 */4 * * *", "", "revenue-operations", 2, "active", "tier"),
    ("netsuite-ar-to-snowflake", "AR ageing → Snowflake", "netsuite", "snowflake", None,
     ["netsuite-saved-search-export", "snowflake-snowpipe"], ["invoice", "payment"], ["collections", "period-close"],
     "file", "0 1 * * *", "", "data-analytics", 3, "active", "tier"),
    ("netsuite-gl-to-snowflake", "GL balances → Snowflake", "netsuite", "snowflake", None,
     ["netsuite-saved-search-export", "snowflake-snowpipe"], ["cost-center", "revenue-schedule"], ["period-close"],
     "file", "30 1 * * *", "", "data-analytics", 2, "active", "tier"),
    ("psa-utilisation-to-snowflake", "Utilisation and WIP → Snowflake", "certinia-psa", "snowflake", None,
     ["psa-rest", "snowflake-sql-api"], ["time-entry", "project", "resource"], ["resource-to-delivery"], "batch",
     "0 */2 * * *", "", "data-analytics", 3, "active", "tier"),
    ("snowflake-to-exec-dashboard", "KPI marts → executive dashboard", "snowflake", "mulesoft", None,
     ["snowflake-sql-api", "exec-dashboard-exp"], ["project", "invoice", "revenue-schedule"], ["period-close"],
     "api_sync", "", "Dashboard opened", "data-analytics", 3, "active", "tier"),
    ("workday-workers-to-psa", "Workers → Certinia resources", "workday", "certinia-psa", "mulesoft",
     ["workday-raas", "worker-process", "psa-rest"], ["resource", "cost-center"], ["resource-to-delivery"], "batch",
     "0 */6 * * *", "", "people-systems", 2, "active", "tier"),
    ("workday-workers-to-netsuite", "Employees → NetSuite (expense payees)", "workday", "netsuite", "mulesoft",
     ["workday-raas", "worker-process", "netsuite-suitetalk"], ["resource", "cost-center"],
     ["resource-to-delivery", "period-close"], "batch", "15 */6 * * *", "", "people-systems", 2, "active", "tier"),
    ("workday-to-adp", "Worker changes → ADP payroll", "workday", "adp", "mulesoft",
     ["workday-soap-hr", "worker-process", "adp-workers"], ["resource"], ["resource-to-delivery"], "event", "",
     "Hire, terminate or pay change", "people-systems", 1, "active", "tier"),
    ("adp-payroll-to-netsuite", "Payroll journal → NetSuite", "adp", "netsuite", "mulesoft",
     ["adp-payroll-output", "netsuite-restlets"], ["cost-center"], ["period-close"], "file", "",
     "Pay run completed", "finance-systems", 1, "active", "tier"),
    ("workday-cost-centers-to-coupa", "Cost centres → Coupa", "workday", "coupa", "mulesoft",
     ["workday-raas", "coupa-core"], ["cost-center"], ["procure-to-pay"], "batch", "0 4 * * *", "",
     "procurement-systems", 3, "active", "tier"),
    ("coupa-po-to-netsuite", "Supplier POs → NetSuite", "coupa", "netsuite", "mulesoft",
     ["coupa-core", "procurement-process", "netsuite-suitetalk"], ["purchase-order"], ["procure-to-pay"], "api_sync",
     "*/30 * * * *", "", "procurement-systems", 2, "active", "tier"),
    ("coupa-invoices-to-netsuite", "Supplier invoices → NetSuite AP", "coupa", "netsuite", "mulesoft",
     ["coupa-core", "procurement-process", "netsuite-suitetalk"], ["invoice", "purchase-order"], ["procure-to-pay"],
     "api_sync", "0 * * * *", "", "procurement-systems", 2, "active", "tier"),
    ("coupa-expenses-to-psa", "Project purchases → Certinia expenses", "coupa", "certinia-psa", "mulesoft",
     ["coupa-core", "psa-rest"], ["expense", "project", "purchase-order"], ["procure-to-pay", "time-to-invoice"],
     "batch", "0 5 * * *", "", "procurement-systems", 3, "active", "tier"),
    ("docusign-to-sfdc-contract", "Signed contracts → Salesforce", "docusign-clm", "salesforce", "mulesoft",
     ["docusign-connect", "sfdc-rest"], ["contract"], ["quote-to-cash", "client-onboarding"], "event", "",
     "Envelope completed", "revenue-operations", 2, "active", "tier"),
    ("sfdc-to-docusign-contract", "Contract requests → DocuSign CLM", "salesforce", "docusign-clm", None,
     ["sfdc-rest", "docusign-clm-api"], ["contract", "opportunity"], ["quote-to-cash"], "api_sync", "",
     "Quote approved", "revenue-operations", 2, "active", "tier"),
    ("docusign-terms-to-zuora", "Contract terms → Zuora subscriptions", "docusign-clm", "zuora", "mulesoft",
     ["docusign-clm-api", "contract-process", "zuora-rest"], ["contract", "rate-card"], ["quote-to-cash"],
     "event", "", "Managed-services contract signed", "finance-systems", 2, "planned", None),
    ("zuora-invoices-to-netsuite", "Retainer invoices: Zuora → NetSuite", "zuora", "netsuite", "mulesoft",
     ["zuora-callouts", "invoice-process", "netsuite-restlets"], ["invoice", "revenue-schedule"],
     ["quote-to-cash", "milestone-to-revenue"], "event", "", "Invoice posted", "finance-systems", 1, "active", "tier"),
    ("zuora-payments-to-netsuite", "Retainer payments: Zuora → NetSuite", "zuora", "netsuite", "mulesoft",
     ["zuora-callouts", "netsuite-suitetalk"], ["payment"], ["collections"], "event", "", "Payment received",
     "finance-systems", 2, "active", "tier"),
    ("sfdc-to-zuora-account", "Billing accounts: Salesforce → Zuora", "salesforce", "zuora", "mulesoft",
     ["sfdc-rest", "client-process", "zuora-rest"], ["client", "legal-entity"], ["client-onboarding"], "api_sync",
     "*/30 * * * *", "", "finance-systems", 2, "active", "tier"),
    ("psa-time-to-sap", "Approved time → SAP FI (EMEA legacy)", "certinia-psa", "sap-fi-legacy", "mulesoft",
     ["psa-billing-events", "invoice-process", "sap-fi-rfc"], ["time-entry", "invoice"], ["time-to-invoice"],
     "batch", "0 2 * * 1-5", "", "finance-systems", 1, "deprecated",
     {"max_sync_lag_minutes": 1440, "p95_latency_ms": None}),
    ("sap-gl-to-snowflake", "SAP GL postings → Snowflake", "sap-fi-legacy", "snowflake", None,
     ["sap-fi-idoc", "snowflake-snowpipe"], ["cost-center", "revenue-schedule"], ["period-close"], "file",
     "0 5 * * *", "", "data-analytics", 3, "deprecated", "tier"),
    ("sap-customers-from-sfdc", "EMEA customers: Salesforce → SAP (SOAP bridge)", "salesforce", "sap-fi-legacy",
     None, ["sfdc-soap-partner", "sap-fi-rfc"], ["client"], ["client-onboarding"], "batch", "0 3 * * *", "",
     "finance-systems", 2, "deprecated", "tier"),
    ("sap-to-netsuite-migration", "SAP → NetSuite open-item migration", "sap-fi-legacy", "netsuite", "mulesoft",
     ["sap-fi-rfc", "netsuite-restlets"], ["invoice", "payment", "client"], ["period-close"], "batch", "",
     "Run per migration wave", "finance-systems", 1, "planned", None),
    ("mobile-time-to-psa", "Mobile timesheets → Certinia", "mulesoft", "certinia-psa", None,
     ["mobile-time-exp", "psa-rest"], ["time-entry"], ["time-to-invoice"], "api_sync", "", "Timesheet submitted",
     "delivery-systems", 2, "active", "tier"),
    ("psa-resource-requests-to-workday", "Skills demand → Workday", "certinia-psa", "workday", "mulesoft",
     ["psa-resource-requests", "worker-process", "workday-soap-hr"], ["resource"], ["resource-to-delivery"], "batch",
     "0 6 * * 1", "", "people-systems", 3, "active", "tier"),
    ("netsuite-fx-to-psa", "FX rates and legal entities → Certinia", "netsuite", "certinia-psa", "mulesoft",
     ["netsuite-suitetalk", "psa-rest"], ["legal-entity", "rate-card"], ["project-setup", "period-close"], "batch",
     "0 0 * * *", "", "finance-systems", 2, "active", "tier"),
    ("netsuite-tax-codes-to-psa", "Tax codes → Certinia", "netsuite", "certinia-psa", "mulesoft",
     ["netsuite-suitetalk", "tax-process", "psa-rest"], ["tax-code", "legal-entity"], ["time-to-invoice"], "batch",
     "30 0 * * *", "", "finance-systems", 2, "active", "tier"),
    ("sfdc-pipeline-to-snowflake", "Pipeline snapshot → Snowflake", "salesforce", "snowflake", None,
     ["sfdc-rest", "snowflake-sql-api"], ["opportunity", "client"], ["quote-to-cash"], "batch", "0 */6 * * *", "",
     "data-analytics", 3, "active", "tier"),
    ("psa-po-check-netsuite", "Client PO balance check", "certinia-psa", "netsuite", "mulesoft",
     ["psa-rest", "netsuite-suitetalk"], ["purchase-order", "invoice"], ["time-to-invoice", "collections"],
     "api_sync", "", "Invoice draft created", "finance-systems", 1, "active", "tier"),
    ("netsuite-dunning-to-sfdc", "Dunning tasks → Salesforce account owners", "netsuite", "salesforce", "mulesoft",
     ["netsuite-suitetalk", "sfdc-rest"], ["invoice", "client"], ["collections"], "batch", "0 7 * * 1-5", "",
     "revenue-operations", 3, "active", None),
    ("psa-project-close-to-netsuite", "Project closure → NetSuite", "certinia-psa", "netsuite", "mulesoft",
     ["project-process", "netsuite-suitetalk"], ["project", "revenue-schedule"], ["period-close"], "event", "",
     "Project closed", "delivery-systems", 2, "active", "tier"),
]


def _log(stdout, message):
    if stdout is not None:
        stdout.write(message)


# Systems that hold copies of other systems' records: feeding them does not make them writers.
COPIES = {"snowflake"}

# workflow slug -> ordered steps (name, business event type, expected integration, max hours after the
# previous step). They match the demo's business events (kpis/demo.py): a held invoice shows as stuck.
STAGES = {
    "time-to-invoice": [
        ("Time approved", "time_approved", "psa-time-to-netsuite", None),
        ("Invoice ready", "invoice_ready", "psa-time-to-netsuite", 72),  # approved time not invoiced after 3 days
        ("Invoice posted with tax", "invoice_posted", "netsuite-tax-avalara", 48),
    ],
    "milestone-to-revenue": [
        ("Milestone completed", "milestone_completed", "psa-milestones-to-netsuite", None),
        ("Invoice ready", "invoice_ready", "psa-milestones-to-netsuite", 48),
        ("Invoice posted", "invoice_posted", "psa-milestones-to-netsuite", 48),
    ],
    "project-setup": [
        ("Deal closed won", "closed_won", "sfdc-to-psa-project", None),
        ("Project active", "project_activated", "sfdc-to-psa-project", 120),
    ],
}


def _load_stages(workflows, integrations):
    for slug, steps in STAGES.items():
        workflow = workflows.get(slug)
        if workflow is None:
            continue
        existing = {s.position: s for s in workflow.stages.all()}
        for position, (name, event_type, integration, hours) in enumerate(steps, start=1):
            data = {"name": name, "event_type": event_type, "integration": integrations.get(integration),
                    "max_latency_hours": hours}
            if position in existing:
                services.update_stage(actor=None, stage=existing[position], **data)
            else:
                services.create_stage(actor=None, workflow=workflow, position=position, **data)


def _upsert(model, slug, data):
    obj = model.objects.filter(slug=slug).first()
    if obj is None:
        return services.create(model, actor=None, slug=slug, **data)
    return services.update(obj, actor=None, **data)


def _ensure_reference_data():
    """The domains, canonical entities and workflows the estate refers to. A migration seeds
    them; a database flushed since (a test database between transactional tests, a cleared
    tenant) has none, and the estate would load with no entity on any integration."""
    import importlib

    from django.apps import apps

    importlib.import_module("catalog.migrations.0002_seed_reference_data").seed(apps, None)


def load(stdout=None):
    _ensure_reference_data()
    teams = {}
    for slug, name, email, chat, parent, description in TEAMS:
        teams[slug] = _upsert(Team, slug, {"name": name, "email": email, "chat_channel": chat,
                                           "parent": teams.get(parent), "description": description})

    User = get_user_model()
    for username, memberships in MEMBERS.items():
        user = User.objects.filter(username=username).first()
        if user is None:
            continue
        for team_slug, role in memberships:
            existing = TeamMember.objects.filter(team=teams[team_slug], user=user).first()
            if existing is None:
                services.add_team_member(actor=None, team=teams[team_slug], user=user, role=role)
            elif existing.role != role:
                services.update_team_member(actor=None, member=existing, role=role)
    for team_slug, name, email, role in NAMED_MEMBERS:
        if not TeamMember.objects.filter(team=teams[team_slug], email=email).exists():
            services.add_team_member(actor=None, team=teams[team_slug], name=name, email=email, role=role)

    domains = {d.slug: d for d in Domain.objects.all()}
    for slug, team_slug in DOMAIN_OWNERS.items():
        if slug in domains:
            services.update_domain(actor=None, domain=domains[slug], owner_team=teams[team_slug])
    for workflow in Workflow.objects.filter(slug__in=WORKFLOW_OWNERS):
        services.update_workflow(actor=None, workflow=workflow, owner_team=teams[WORKFLOW_OWNERS[workflow.slug]])

    systems = {}
    for (slug, name, vendor, product, category, deployment, lifecycle, team, domain, owner, residency, limits,
         description) in SYSTEMS:
        data = {"name": name, "vendor": vendor, "product": product, "category": category, "deployment": deployment,
                "owner_team": teams[team], "domain": domains.get(domain), "business_owner": owner,
                "data_residency": residency, "rate_limits": limits, "description": description,
                "is_copy": slug in COPIES}
        existing = System.objects.filter(slug=slug).first()
        if existing is None:
            data["lifecycle"] = lifecycle
        systems[slug] = _upsert(System, slug, data)

    apis = {}
    for (slug, name, provider, layer, style, version, lifecycle, tier, finance, auth, team, description) in APIS:
        data = {"name": name, "provider_system": systems[provider], "layer": layer, "style": style,
                "version": version, "criticality": tier, "finance_sensitive": finance, "auth_policy": auth,
                "owner_team": teams[team] if team else systems[provider].owner_team, "description": description,
                "docs_url": f"https://developer.firm.example/apis/{slug}"}
        if slug == "invoice-process":
            data.update(definition_format="openapi", definition=OPENAPI_INVOICE)
        if not Api.objects.filter(slug=slug).exists():
            data["lifecycle"] = lifecycle
        apis[slug] = _upsert(Api, slug, data)

    entities = {e.slug: e for e in CanonicalEntity.objects.all()}
    workflows = {w.slug: w for w in Workflow.objects.all()}
    with_sla = 0
    for (slug, name, source, target, middleware, api_slugs, entity_slugs, workflow_slugs, pattern, schedule, trigger,
         team, tier, lifecycle, sla) in INTEGRATIONS:
        data = {
            "name": name, "source_system": systems[source], "target_system": systems[target],
            "middleware_system": systems.get(middleware), "apis": [apis[a] for a in api_slugs],
            "entities": [entities[e] for e in entity_slugs if e in entities],
            "workflows": [workflows[w] for w in workflow_slugs if w in workflows],
            "pattern": pattern, "schedule": schedule, "trigger": trigger, "owner_team": teams[team],
            "criticality": tier,
            "description": f"{name}. Pattern: {pattern.replace('_', ' ')}; "
                           f"{'runs ' + schedule if schedule else 'triggered by ' + trigger.lower()}.",
        }
        if not Integration.objects.filter(slug=slug).exists():
            data["lifecycle"] = lifecycle
        integration = _upsert(Integration, slug, data)
        if sla is not None:
            targets = dict(SLA_BY_TIER[tier])
            period = schedule_period_minutes(schedule) if pattern in ("batch", "file") else None
            if period:  # a scheduled job is fresh until its next run is late, not within minutes
                targets["max_sync_lag_minutes"] = period + max(30, period // 4)
            if isinstance(sla, dict):
                targets.update(sla)
            services.upsert_sla(actor=None, integration=integration, **targets)
            with_sla += 1
    _load_stages(workflows, {i.slug: i for i in Integration.objects.all()})
    _log(stdout, f"Catalog demo: {len(teams)} teams, {len(systems)} systems, {len(apis)} APIs, "
                 f"{len(INTEGRATIONS)} integrations ({with_sla} with an SLA).")
