from django.db import models


class SystemCategory(models.TextChoices):
    CRM = "crm", "CRM"
    PSA = "psa", "PSA"
    ERP = "erp", "ERP"
    BILLING = "billing", "Billing"
    HRIS = "hris", "HRIS"
    PAYROLL = "payroll", "Payroll"
    TAX = "tax", "Tax"
    CLM = "clm", "Contract lifecycle (CLM)"
    PROCUREMENT = "procurement", "Procurement"
    BI = "bi", "BI / analytics"
    MIDDLEWARE = "middleware", "Middleware"
    DATA_STORE = "data_store", "Data store"
    OTHER = "other", "Other"


class Deployment(models.TextChoices):
    CLOUD = "cloud", "Cloud (SaaS)"
    ON_PREM = "on_prem", "On-premises"
    HYBRID = "hybrid", "Hybrid"


class SystemLifecycle(models.TextChoices):
    PLANNED = "planned", "Planned"
    ACTIVE = "active", "Active"
    LEGACY = "legacy", "Legacy"
    RETIRING = "retiring", "Retiring"
    RETIRED = "retired", "Retired"


SYSTEM_TRANSITIONS = {
    SystemLifecycle.PLANNED: {SystemLifecycle.ACTIVE, SystemLifecycle.RETIRED},
    SystemLifecycle.ACTIVE: {SystemLifecycle.LEGACY, SystemLifecycle.RETIRING},
    SystemLifecycle.LEGACY: {SystemLifecycle.ACTIVE, SystemLifecycle.RETIRING},
    SystemLifecycle.RETIRING: {SystemLifecycle.ACTIVE, SystemLifecycle.LEGACY, SystemLifecycle.RETIRED},
    SystemLifecycle.RETIRED: set(),
}


class ApiLayer(models.TextChoices):
    SYSTEM = "system", "System"
    PROCESS = "process", "Process"
    EXPERIENCE = "experience", "Experience"


class ApiStyle(models.TextChoices):
    REST = "rest", "REST"
    SOAP = "soap", "SOAP"
    GRAPHQL = "graphql", "GraphQL"
    EVENT = "event", "Event"
    BATCH_FILE = "batch_file", "Batch file"


class ApiLifecycle(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    DEPRECATED = "deprecated", "Deprecated"
    RETIRED = "retired", "Retired"


API_TRANSITIONS = {
    ApiLifecycle.DRAFT: {ApiLifecycle.PUBLISHED, ApiLifecycle.RETIRED},
    ApiLifecycle.PUBLISHED: {ApiLifecycle.DEPRECATED},
    ApiLifecycle.DEPRECATED: {ApiLifecycle.PUBLISHED, ApiLifecycle.RETIRED},
    ApiLifecycle.RETIRED: set(),
}


class DefinitionFormat(models.TextChoices):
    NONE = "", "None"
    OPENAPI = "openapi", "OpenAPI"
    ASYNCAPI = "asyncapi", "AsyncAPI"
    GRAPHQL = "graphql", "GraphQL SDL"
    WSDL = "wsdl", "WSDL"
    OTHER = "other", "Other"


class Criticality(models.IntegerChoices):
    TIER_1 = 1, "Tier 1 (business critical)"
    TIER_2 = 2, "Tier 2"
    TIER_3 = 3, "Tier 3"


class IntegrationPattern(models.TextChoices):
    API_SYNC = "api_sync", "API sync"
    EVENT = "event", "Event"
    BATCH = "batch", "Batch"
    FILE = "file", "File"


class IntegrationLifecycle(models.TextChoices):
    PLANNED = "planned", "Planned"
    ACTIVE = "active", "Active"
    DEPRECATED = "deprecated", "Deprecated"
    RETIRED = "retired", "Retired"


INTEGRATION_TRANSITIONS = {
    IntegrationLifecycle.PLANNED: {IntegrationLifecycle.ACTIVE, IntegrationLifecycle.RETIRED},
    IntegrationLifecycle.ACTIVE: {IntegrationLifecycle.DEPRECATED, IntegrationLifecycle.RETIRED},
    IntegrationLifecycle.DEPRECATED: {IntegrationLifecycle.ACTIVE, IntegrationLifecycle.RETIRED},
    IntegrationLifecycle.RETIRED: set(),
}


class MeasurementWindow(models.TextChoices):
    DAY = "24h", "Rolling 24 hours"
    WEEK = "7d", "Rolling 7 days"
    MONTH = "30d", "Rolling 30 days"
