"""The authorization matrix: who may call which route with which method.

ONE table, keyed by URL name (``namespace:name``), value ``{METHOD: roles allowed}``.
``tests/security/test_authz_matrix.py`` walks ``get_resolver()`` and fails when a route
has no entry, when an entry names a route that no longer exists, when an entry misses a
method the view answers, and when any cell's outcome differs from this table:

* a role in the set must get past authentication and permission checks (anything but
  401/403/5xx, and for HTML pages not a bounce to the login page);
* anonymous callers (and, on HTML pages, token callers, which have no session) get a
  302 to the login page on HTML routes and 401/403 on the API; a revoked token gets 401;
* any other signed-in role gets 403.

Adding a route? Add its entry here (docs/security.md, "Authorization matrix").
"""

ANON = "anonymous"
ARCH = "architect"
STEW = "steward"
FIN = "finance"
EXEC = "executive"
SVC = "integration"  # service account, Bearer token
REVOKED = "revoked"  # the same kind of account, token revoked
SUPER = "superuser"

ROLES = (ANON, ARCH, STEW, FIN, EXEC, SVC, REVOKED, SUPER)
# Routes outside /api/ that machines call and that answer like the API (401/403, never a
# bounce to the login page): the Prometheus scrape.
MACHINE_PATHS = ("/metrics",)

PUBLIC = frozenset(ROLES)
# Browser pages: every role holds the view permissions; tokens are API-only.
READ_HTML = frozenset({ARCH, STEW, FIN, EXEC, SUPER})
READ_API = READ_HTML | {SVC}
ARCHITECTS = frozenset({ARCH, SUPER})
STEWARDS = frozenset({STEW, SUPER})
FINANCE = frozenset({FIN, SUPER})
INTEGRATIONS = frozenset({SVC, SUPER})
SUPERUSER = frozenset({SUPER})
NOBODY_BUT_SUPER = SUPERUSER

# An architect-owned catalog object over the API: everyone reads, architects write.
_API_LIST = {"GET": READ_API, "POST": ARCHITECTS}
_API_DETAIL = {"GET": READ_API, "PUT": ARCHITECTS, "PATCH": ARCHITECTS, "DELETE": ARCHITECTS}
# The same object as HTML pages.
_HTML_LIST = {"GET": READ_HTML}
_HTML_FORM = {"GET": ARCHITECTS, "POST": ARCHITECTS}
_HTML_READ = {"GET": READ_HTML}

MATRIX: dict[str, dict[str, frozenset]] = {
    # --- project --------------------------------------------------------------------
    "home": {"GET": READ_HTML},
    "search": {"GET": READ_HTML},
    "search-suggest": {"GET": READ_HTML},
    "favicon": {"GET": PUBLIC},
    "login": {"GET": PUBLIC, "POST": PUBLIC},
    "logout": {"POST": PUBLIC},
    "healthz": {"GET": PUBLIC},
    "readyz": {"GET": PUBLIC},
    # Single sign-on round trip and password reset: for signed-out visitors (404 while SSO is off).
    "oidc_authentication_init": {"GET": PUBLIC},
    "oidc_authentication_callback": {"GET": PUBLIC},
    "password_reset": {"GET": PUBLIC, "POST": PUBLIC},
    "password_reset_done": {"GET": PUBLIC},
    "password_reset_confirm": {"GET": PUBLIC, "POST": PUBLIC},
    "password_reset_complete": {"GET": PUBLIC},
    # OTLP/HTTP traces: service tokens only (a browser session gets 403, no token 401).
    "otlp-traces": {"POST": frozenset({SVC})},
    # Prometheus scrapers only: a token with read_metrics or METRICS_BEARER_TOKEN (none of
    # the cast), so every role is refused (tests/controlplane/test_metrics.py lets them in).
    "metrics": {"GET": frozenset()},
    # The demo's simulated systems (HMAC-signed machine calls; 404 unless DEMO_ENDPOINTS).
    "demo:health": {"GET": PUBLIC},
    "demo:receive": {"POST": PUBLIC},
    "api-schema": {"GET": READ_API},
    "api-docs": {"GET": READ_API},
    "api-redoc": {"GET": READ_API},
    # The Django admin, as one group: index and every model's changelist and add page.
    "admin:*": {"GET": SUPERUSER},
    # --- catalog API ----------------------------------------------------------------
    "catalog-api:team-list": _API_LIST,
    "catalog-api:team-detail": _API_DETAIL,
    "catalog-api:team-member-list": _API_LIST,
    "catalog-api:team-member-detail": _API_DETAIL,
    "catalog-api:domain-list": _API_LIST,
    "catalog-api:domain-detail": _API_DETAIL,
    "catalog-api:system-list": _API_LIST,
    "catalog-api:system-detail": _API_DETAIL,
    "catalog-api:system-lifecycle": {"POST": ARCHITECTS},
    "catalog-api:api-list": _API_LIST,
    "catalog-api:api-detail": _API_DETAIL,
    "catalog-api:api-lifecycle": {"POST": ARCHITECTS},
    "catalog-api:entity-list": _API_LIST,
    "catalog-api:entity-detail": _API_DETAIL,
    "catalog-api:workflow-list": _API_LIST,
    "catalog-api:workflow-detail": _API_DETAIL,
    "catalog-api:workflow-stage-list": _API_LIST,
    "catalog-api:workflow-stage-detail": _API_DETAIL,
    "catalog-api:workflow-stuck": {"GET": READ_API},
    "catalog-api:integration-list": _API_LIST,
    "catalog-api:integration-detail": _API_DETAIL,
    "catalog-api:integration-lifecycle": {"POST": ARCHITECTS},
    "catalog-api:sla-list": _API_LIST,
    "catalog-api:sla-detail": _API_DETAIL,
    "catalog-intel-api:impact": {"GET": READ_API},
    "catalog-intel-api:graph": {"GET": READ_API},
    "catalog-intel-api:scorecards": {"GET": READ_API},
    "catalog-intel-api:backstage-import": {"POST": ARCHITECTS},
    "catalog-intel-api:backstage-batches": {"GET": READ_API},
    "catalog-intel-api:backstage-apply": {"POST": ARCHITECTS},
    "catalog-intel-api:backstage-unresolved": {"GET": READ_API},
    "catalog-intel-api:backstage-export": {"GET": READ_API},
    "catalog-intel-api:estate-map": {"GET": READ_API},
    "catalog-intel-api:derivation-list": {"GET": READ_API, "POST": ARCHITECTS},
    "catalog-intel-api:derivation-detail": {"GET": READ_API, "DELETE": ARCHITECTS},
    # --- stewardship API --------------------------------------------------------------
    # --- Schema Registry wire API (/registry/confluent/): sessions may only read; every
    # other call needs a token (HTTP Basic or Bearer). Stewards' wire calls (config, mode,
    # deletes) need a steward's token, which no role of this matrix holds: they are proven
    # in tests/stewardship/test_registry_wire.py.
    "registry:root": {"GET": READ_API},
    "registry:subjects": {"GET": READ_API},
    "registry:subject": {"POST": frozenset({SVC}), "DELETE": frozenset()},
    "registry:versions": {"GET": READ_API, "POST": frozenset({SVC})},
    "registry:version": {"GET": READ_API, "DELETE": frozenset()},
    "registry:version-schema": {"GET": READ_API},
    "registry:referenced-by": {"GET": READ_API},
    "registry:associations": {"GET": READ_API},
    "registry:schema-types": {"GET": READ_API},
    "registry:schema": {"GET": READ_API},
    "registry:schema-text": {"GET": READ_API},
    "registry:schema-subjects": {"GET": READ_API},
    "registry:schema-versions": {"GET": READ_API},
    "registry:compatibility-all": {"POST": frozenset({SVC})},
    "registry:compatibility": {"POST": frozenset({SVC})},
    "registry:config": {"GET": READ_API, "PUT": frozenset()},
    "registry:subject-config": {"GET": READ_API, "PUT": frozenset(), "DELETE": frozenset()},
    "registry:mode": {"GET": READ_API, "PUT": frozenset()},
    "registry:subject-mode": {"GET": READ_API, "PUT": frozenset(), "DELETE": frozenset()},
    "stewardship-api:compatibility": {"POST": READ_API},
    "stewardship-api:subject-list": {"GET": READ_API, "POST": STEWARDS},
    "stewardship-api:subject-detail": {"GET": READ_API, "PUT": STEWARDS, "PATCH": STEWARDS},
    "stewardship-api:subject-validate": {"POST": frozenset({ARCH, STEW, SVC, SUPER})},
    "stewardship-api:version-list": {"GET": READ_API, "POST": STEWARDS},
    "stewardship-api:version-detail": {"GET": READ_API, "PUT": STEWARDS, "PATCH": STEWARDS},
    "stewardship-api:version-accept-finding": {"POST": STEWARDS},
    "stewardship-api:version-approve": {"POST": STEWARDS},
    "stewardship-api:version-deprecate": {"POST": STEWARDS},
    "stewardship-api:version-reject": {"POST": STEWARDS},
    "stewardship-api:version-request-changes": {"POST": STEWARDS},
    # Only a version's author submits it (the draft here is the steward's): not even a superuser.
    "stewardship-api:version-submit": {"POST": frozenset({STEW})},
    "stewardship-api:version-withdraw": {"POST": frozenset({STEW})},  # the author's too
    "stewardship-api:subject-preview": {"POST": STEWARDS},  # drafting: a report, nothing stored
    "stewardship-api:sor-list": {"GET": READ_API, "POST": STEWARDS},
    "stewardship-api:sor-detail": {"GET": READ_API},
    "stewardship-api:sor-approve": {"POST": STEWARDS},
    "stewardship-api:sor-reject": {"POST": STEWARDS},
    # --- exceptions API --------------------------------------------------------------
    "exceptions-api:ingest": {"POST": INTEGRATIONS},
    "exceptions-api:resolve": {"POST": INTEGRATIONS},
    "exceptions-api:exception-list": {"GET": READ_API},
    "exceptions-api:exception-bulk": {"POST": FINANCE},
    "exceptions-api:exception-detail": {"GET": READ_API},
    "exceptions-api:exception-acknowledge": {"POST": FINANCE},
    "exceptions-api:exception-assign": {"POST": FINANCE},
    "exceptions-api:exception-comments": {"GET": READ_API, "POST": FINANCE},
    "exceptions-api:exception-dismiss": {"POST": FINANCE},
    "exceptions-api:exception-reopen": {"POST": FINANCE},
    "exceptions-api:exception-replay": {"POST": FINANCE},
    "exceptions-api:exception-resolve": {"POST": FINANCE},
    "exceptions-api:exception-start": {"POST": FINANCE},
    "exceptions-api:queue-list": {"GET": READ_API, "POST": ARCHITECTS},
    "exceptions-api:queue-detail": {"GET": READ_API, "PUT": ARCHITECTS, "PATCH": ARCHITECTS},
    "exceptions-api:rule-list": {"GET": READ_API, "POST": ARCHITECTS},
    "exceptions-api:rule-preview": {"POST": ARCHITECTS},
    "exceptions-api:rule-detail": {"GET": READ_API, "PUT": ARCHITECTS, "PATCH": ARCHITECTS, "DELETE": ARCHITECTS},
    # --- health API ----------------------------------------------------------------
    "health-api:integration-runs": {"GET": READ_API, "POST": INTEGRATIONS | {ARCH}},
    # The heartbeat URL's secret UUID is the credential (cron jobs cannot hold tokens). A
    # caller that also sends a service token is held to it: revoked -> 401, out of scope -> 403.
    "health-api:heartbeat": {"GET": PUBLIC - {REVOKED}, "POST": PUBLIC - {REVOKED}},
    "health-api:heartbeat-fail": {"GET": PUBLIC - {REVOKED}, "POST": PUBLIC - {REVOKED}},
    "health-api:heartbeat-ping": {"GET": PUBLIC - {REVOKED}, "POST": PUBLIC - {REVOKED}},
    "health-api:sla": {"GET": READ_API},
    "health-api:status-list": {"GET": READ_API},
    "health-api:status-detail": {"GET": READ_API},
    "health-api:probe-list": _API_LIST,
    "health-api:probe-detail": _API_DETAIL,
    "health-api:maintenance-list": _API_LIST,
    "health-api:maintenance-detail": _API_DETAIL,
    "health-api:channel-list": _API_LIST,
    "health-api:channel-detail": _API_DETAIL,
    "health-api:notification-list": {"GET": READ_API},
    "health-api:notification-detail": {"GET": READ_API},
    "health-api:flip-list": {"GET": READ_API},
    "health-api:flip-detail": {"GET": READ_API},
    # --- KPIs API ------------------------------------------------------------------
    "kpis-api:events": {"GET": READ_API, "POST": INTEGRATIONS},
    "kpis-api:reconciliations": {"POST": INTEGRATIONS},
    "kpis-api:fx-rates": {"GET": READ_API, "POST": FINANCE},
    "kpis-api:kpi-list": {"GET": READ_API},
    "kpis-api:kpi-series": {"GET": READ_API},
    "traces-api:trace": {"GET": READ_API},
    "traces-api:cloudevents": {"POST": INTEGRATIONS},
    "traces-api:mappings": _API_LIST,
    "traces-api:mapping": {"GET": READ_API, "PATCH": ARCHITECTS, "DELETE": ARCHITECTS},
    # --- catalog pages --------------------------------------------------------------
    "catalog:home": _HTML_READ,
    "catalog:team-list": _HTML_LIST,
    "catalog:team-create": _HTML_FORM,
    "catalog:team-detail": _HTML_READ,
    "catalog:team-edit": _HTML_FORM,
    "catalog:team-delete": _HTML_FORM,
    "catalog:domain-list": _HTML_LIST,
    "catalog:domain-create": _HTML_FORM,
    "catalog:domain-detail": _HTML_READ,
    "catalog:domain-edit": _HTML_FORM,
    "catalog:domain-delete": _HTML_FORM,
    "catalog:system-list": _HTML_LIST,
    "catalog:system-create": _HTML_FORM,
    "catalog:system-detail": _HTML_READ,
    "catalog:system-edit": _HTML_FORM,
    "catalog:system-delete": _HTML_FORM,
    "catalog:system-lifecycle": {"POST": ARCHITECTS},
    "catalog:api-list": _HTML_LIST,
    "catalog:api-create": _HTML_FORM,
    "catalog:api-detail": _HTML_READ,
    "catalog:api-edit": _HTML_FORM,
    "catalog:api-delete": _HTML_FORM,
    "catalog:api-lifecycle": {"POST": ARCHITECTS},
    "catalog:entity-list": _HTML_LIST,
    "catalog:entity-create": _HTML_FORM,
    "catalog:entity-detail": _HTML_READ,
    "catalog:entity-edit": _HTML_FORM,
    "catalog:entity-delete": _HTML_FORM,
    "catalog:workflow-list": _HTML_LIST,
    "catalog:workflow-create": _HTML_FORM,
    "catalog:workflow-detail": _HTML_READ,
    "catalog:workflow-edit": _HTML_FORM,
    "catalog:workflow-delete": _HTML_FORM,
    "catalog:workflow-stage-create": _HTML_FORM,
    "catalog:workflow-stage-edit": _HTML_FORM,
    "catalog:workflow-stage-delete": {"POST": ARCHITECTS},
    "catalog:workflow-stuck": {"GET": READ_HTML},
    "catalog:integration-list": _HTML_LIST,
    "catalog:integration-create": _HTML_FORM,
    "catalog:integration-detail": _HTML_READ,
    "catalog:integration-edit": _HTML_FORM,
    "catalog:integration-delete": _HTML_FORM,
    "catalog:integration-lifecycle": {"POST": ARCHITECTS},
    "catalog:team-member-add": {"POST": ARCHITECTS},
    "catalog:team-member-remove": {"POST": ARCHITECTS},
    "catalog_intel:impact": _HTML_READ,
    "catalog_intel:scorecards": _HTML_READ,
    "catalog_intel:estate-map": _HTML_READ,
    "catalog_intel:panel": _HTML_READ,
    "catalog_intel:backstage-import": _HTML_FORM,
    "catalog_intel:backstage-batch": {"GET": ARCHITECTS},
    "catalog_intel:backstage-apply": {"POST": ARCHITECTS},
    "catalog_intel:backstage-export": _HTML_READ,
    # --- stewardship pages ------------------------------------------------------------
    "stewardship:home": _HTML_READ,
    "stewardship:subject-list": _HTML_READ,
    "stewardship:subject-create": {"GET": STEWARDS, "POST": STEWARDS},
    "stewardship:subject-detail": _HTML_READ,
    "stewardship:subject-settings": {"POST": STEWARDS},
    "stewardship:draft-create": {"GET": STEWARDS, "POST": STEWARDS},
    "stewardship:version-detail": _HTML_READ,
    "stewardship:draft-edit": {"GET": STEWARDS, "POST": STEWARDS},
    "stewardship:version-submit": {"POST": STEWARDS},
    "stewardship:version-approve": {"POST": STEWARDS},
    "stewardship:version-request-changes": {"POST": STEWARDS},
    "stewardship:version-reject": {"POST": STEWARDS},
    "stewardship:version-deprecate": {"POST": STEWARDS},
    "stewardship:version-accept": {"POST": STEWARDS},
    "stewardship:version-withdraw": {"POST": STEWARDS},
    "stewardship:sor-matrix": _HTML_READ,
    "stewardship:sor-propose": {"GET": STEWARDS, "POST": STEWARDS},
    "stewardship:sor-detail": _HTML_READ,
    "stewardship:sor-approve": {"POST": STEWARDS},
    "stewardship:sor-reject": {"POST": STEWARDS},
    "stewardship:entity-detail": _HTML_READ,
    # --- exception pages ----------------------------------------------------------------
    "exceptions:home": _HTML_READ,
    "exceptions:list": _HTML_READ,
    "exceptions:mine": _HTML_READ,
    "exceptions:export": {"GET": FINANCE},
    "exceptions:export-xlsx": {"GET": FINANCE},
    "exceptions:bulk": {"POST": FINANCE},
    "exceptions:rules": _HTML_READ,
    "exceptions:rule-new": _HTML_FORM,
    "exceptions:rule-edit": _HTML_FORM,
    "exceptions:detail": _HTML_READ,
    "exceptions:comment": {"POST": FINANCE},
    "exceptions:replay": {"GET": FINANCE, "POST": FINANCE},
    "exceptions:action": {"POST": FINANCE},
    # --- health pages --------------------------------------------------------------
    "health:home": _HTML_READ,
    "health:sla": _HTML_READ,
    "health:integration": _HTML_READ,
    "health:probe-add": _HTML_FORM,
    "health:config-edit": _HTML_FORM,
    "health:probe-edit": _HTML_FORM,
    "health:probe-delete": {"POST": ARCHITECTS},
    "health:maintenance-add": _HTML_FORM,
    "health:maintenance-delete": {"POST": ARCHITECTS},
    "health:channels": _HTML_READ,
    "health:channel-add": _HTML_FORM,
    "health:channel": _HTML_READ,
    # --- KPI pages -----------------------------------------------------------------
    "kpis:home": _HTML_READ,
    "traces:trace": _HTML_READ,
    "kpis:rows": _HTML_READ,
    "kpis:fx-rates": _HTML_READ,
    "kpis:fx-upload": {"POST": FINANCE},
    "kpis:detail": _HTML_READ,
    "kpis:export": _HTML_READ,
    "kpis:export-xlsx": _HTML_READ,
}

# --- machine writes are bound to the token's scope ------------------------------------
# Every route where a service token may write (its matrix entry lets SVC use a method
# other than GET, or it is a public machine endpoint such as the heartbeat) is listed here
# with a valid request body for the integration ``{integration}`` names (filled in by the
# test). ``test_every_machine_write_is_scoped`` sends it with a token that speaks for that
# integration (must pass) and with one that speaks for another (must answer 403
# ``out_of_scope`` and store nothing). A route that writes nothing for any integration is
# in SCOPE_EXEMPT with the reason. Adding a machine route? Add it to one of them.
SCOPED_WRITES: dict[str, dict | None] = {
    "exceptions-api:ingest": {"integration": "{integration}", "error_code": "X", "message": "m"},
    "exceptions-api:resolve": {"integration": "{integration}", "correlation_id": "run-1"},
    "health-api:integration-runs": {"status": "success"},  # the integration is in the URL
    "health-api:heartbeat": None,  # the integration is the heartbeat URL's
    "health-api:heartbeat-fail": None,
    "health-api:heartbeat-ping": None,
    "kpis-api:events": {"event_id": "e-1", "type": "time_approved", "correlation_key": "K", "occurred_at": "{now}",
                        "integration": "{integration}"},
    "kpis-api:reconciliations": {"integration": "{integration}", "entity": "{entity}", "period_start": "2026-11-01",
                                 "period_end": "2026-11-30", "source_count": 10, "target_count": 10},
    # a structured CloudEvent whose (source, type) build_objects maps onto {integration}
    "traces-api:cloudevents": {"specversion": "1.0", "id": "ce-1", "source": "/authz", "type": "authz.time.approved",
                               "subject": "K", "time": "{now}", "data": {}},
}
# The content type a scoped write is sent with, where it is not application/json.
SCOPED_WRITE_CONTENT_TYPES = {"traces-api:cloudevents": "application/cloudevents+json"}
SCOPE_EXEMPT = {
    "stewardship-api:subject-validate": "checks a payload against an approved schema; stores nothing",
    "stewardship-api:compatibility": "compares two schemas; stores nothing",
    "registry:subject": "the wire API's lookup: finds an approved version, stores nothing",
    "registry:compatibility": "the wire API's compatibility test; stores nothing",
    "registry:compatibility-all": "the wire API's compatibility test; stores nothing",
    "registry:versions": "scoped, but answers in Confluent's error shape (40301), not out_of_scope: proven by "
                         "tests/stewardship/test_registry_wire.py::test_a_scoped_token_registers_only_for_its_own_"
                         "integrations",
    "login": "the sign-in form: a session, not a machine write",
    "logout": "ends a session",
    "otlp-traces": "scoped the OTLP way: spans of an integration outside the token's scope are refused and counted "
                   "in partial_success, the rest stored (tests/telemetry/test_otlp.py::test_who_may_send_and_what_is_refused)",
    "password_reset": "a signed-out visitor's request for a reset e-mail: no machine write",
    "password_reset_confirm": "sets a local account's password from an e-mailed link: no machine write",
    "demo:receive": "the demo's simulated ledger (off outside the demo); it checks the replay signature, stores nothing",
}
