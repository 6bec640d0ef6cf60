"""Project settings, read from the environment (see README "Configuration").

With nothing set the project runs on SQLite and kombu's filesystem broker under ``var/``
so ``make demo`` needs no server. ``controlplane.settings.production`` tightens this for
deployment.
"""

import ipaddress
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from .env import env_bool, env_int, env_json_mapping, env_list, env_str, env_url

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG and not env_bool("ALLOW_INSECURE_SECRET_KEY", False):
        raise ImproperlyConfigured(
            "SECRET_KEY is required when DEBUG is off. Set SECRET_KEY, or DEBUG=1 for local development."
        )
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"

# Old keys, comma-separated, still accepted for sessions, signatures and stored probe secrets
# while a rotation is under way (see health/secrets.py and `manage.py rotate_secrets`).
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", [])

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "controlplane",
    "catalog",
    "stewardship",
    "exceptions",
    "health",
    "kpis",
    "traces",
    "sso",
    "telemetry",
]

MIDDLEWARE = [
    "controlplane.middleware.RequestIdMiddleware",
    # A lost database connection answers 503 (API error shape / plain page), not a 500.
    "controlplane.middleware.DatabaseUnavailableMiddleware",
    "controlplane.middleware.RejectNulMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "controlplane.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Django's session, auth and messages middleware, skipped for machine requests (a
    # service token or a token-in-URL path under /api/, see
    # controlplane.middleware.is_machine_request): they only serve browsers. CSRF and
    # X-Frame-Options stay Django's own (`check --deploy` looks for them by name); the API
    # and heartbeat views are csrf_exempt, so CSRF costs a machine request a flag check.
    "controlplane.middleware.BrowserSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "controlplane.middleware.BrowserAuthenticationMiddleware",
    "controlplane.middleware.LoginRequiredMiddleware",
    "controlplane.middleware.BrowserMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "controlplane.middleware.NoStoreMiddleware",
]

# Responses under these paths hold finance data and are sent with Cache-Control: no-store
# (controlplane.middleware.NoStoreMiddleware). The admin (control board) is never cached by
# Django already; listed so the rule is visible in one place.
NO_STORE_PATH_PREFIXES = [
    "/exceptions/", "/kpis/", "/admin/",
    "/api/v1/exceptions/", "/api/v1/kpis/", "/api/v1/events/", "/api/v1/reconciliations/",
]

ROOT_URLCONF = "controlplane.urls"
WSGI_APPLICATION = "controlplane.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "controlplane.context_processors.roles",
            ],
        },
    },
]

# --- Content-Security-Policy (controlplane.csp) -----------------------------------------
# Everything from our own origin, nothing inline, no eval. ``data:`` images are Pico CSS's
# inline SVG icons. Enforced everywhere (the browser tests fail on a violation), so a
# page that needs more shows up in development, not in production.
CSP_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
CSP_REPORT_ONLY = env_bool("CSP_REPORT_ONLY", False)

# --- Database -----------------------------------------------------------------------
DATABASE_URL = env_url(
    "DATABASE_URL",
    f"sqlite:///{VAR_DIR / 'controlplane.sqlite3'}",
    schemes=("sqlite", "postgres", "postgresql", "pgsql"),
)
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let web, worker and beat share the demo database.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env_int("DB_CONNECT_TIMEOUT", 5)
    # PostgreSQL's JIT compiles any query its planner costs high; the KPI queries over the
    # many-to-many workflow scope are costed far above what they read, and compiling them took
    # 5 s for a 70 ms query (EXPLAIN ANALYZE in docs/kpis.md). Off unless DB_JIT=1.
    if not env_bool("DB_JIT", False):
        _options = DATABASES["default"]["OPTIONS"].get("options", "")
        if "jit" not in _options:
            DATABASES["default"]["OPTIONS"]["options"] = f"{_options} -c jit=off".strip()
# The machine posts' one statement (single ingest, sync run, business event, heartbeat) is
# prepared once per connection (controlplane.statements). Off for a pooler that cannot keep
# prepared statements (PgBouncer in transaction mode before 1.21): they are then sent like
# every other query.
DB_PREPARED_STATEMENTS = env_bool("DB_PREPARED_STATEMENTS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and broker -----------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "") or ""
if REDIS_URL:
    env_url("REDIS_URL", REDIS_URL, schemes=("redis", "rediss", "unix"))
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    # Shared by every process on the database, never per-process memory: sign-in failure
    # counts (controlplane.login_throttle) must be seen by all web workers, and the demo runs
    # two gunicorn workers without Redis. The table is made by `migrate` (a post_migrate
    # step runs createcachetable, see ControlPlaneConfig.ready).
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "controlplane_cache"}}
# The demo's simulated systems remember each replayed request by its Idempotency-Key in
# files, never in the database: on SQLite a replay attempt holds the database's write lock
# for the length of its POST (the attempt's exactly-once lock), so a receiver that wrote to
# the same database would wait for it and answer only after the replay had timed out.
CACHES["demo_receiver"] = {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                           "LOCATION": str(VAR_DIR / "demo-receiver"), "TIMEOUT": 3600}

CELERY_BROKER_URL = env_url(
    "CELERY_BROKER_URL",
    REDIS_URL or "filesystem://",
    schemes=("filesystem", "redis", "rediss", "amqp", "pyamqp", "memory"),
)
CELERY_BROKER_TRANSPORT_OPTIONS = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for sub in ("in", "processed", "control"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "in"),
        "data_folder_out": str(_broker_dir / "in"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Redis hands an unacknowledged message (acks_late: its worker died mid-task) to another
    # worker after this many seconds. It must exceed the longest task; delayed work (replay
    # backoff) waits in the outbox table, not in the broker, so it need not cover that.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT_SECONDS", 3600, minimum=5),
    }
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Transactional outbox (controlplane.outbox): how long publishing after commit may wait for
# the broker before leaving the message to the relay, how old a pending message must be
# before the relay re-publishes it, and how many the relay takes per run.
OUTBOX_PUBLISH_TIMEOUT_SECONDS = env_int("OUTBOX_PUBLISH_TIMEOUT_SECONDS", 1, minimum=1)
OUTBOX_RELAY_AFTER_SECONDS = env_int("OUTBOX_RELAY_AFTER_SECONDS", 5, minimum=0)
OUTBOX_RELAY_BATCH = env_int("OUTBOX_RELAY_BATCH", 500, minimum=1)
# Sent messages older than this are deleted by the relay (days).
OUTBOX_RETENTION_DAYS = env_int("OUTBOX_RETENTION_DAYS", 7, minimum=1)

# --- Auth -------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in throttling (controlplane.login_throttle): failed attempts per username and
# client address before a lock-out, and how long the lock-out (and the count) lasts.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 900, minimum=1)
# ... and failed attempts from one address whatever the username (password spraying).
LOGIN_FAILURE_LIMIT_PER_ADDRESS = env_int("LOGIN_FAILURE_LIMIT_PER_ADDRESS", 30, minimum=1)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Single sign-on (sso/, OpenID Connect through mozilla-django-oidc) --------------------
# Off unless a client id and the provider's endpoints are set; then the login page offers
# "Sign in with <OIDC_PROVIDER_NAME>" beside the local form. Authorization code flow with
# PKCE (S256) and a nonce; every call to the provider goes through controlplane.outbound
# (a provider on a private network needs its host in OUTBOUND_URL_ALLOWLIST).
OIDC_RP_CLIENT_ID = env_str("OIDC_RP_CLIENT_ID", "") or ""
OIDC_RP_CLIENT_SECRET = env_str("OIDC_RP_CLIENT_SECRET", "") or ""
# The provider's endpoints, as its /.well-known/openid-configuration lists them.
OIDC_OP_AUTHORIZATION_ENDPOINT = env_str("OIDC_OP_AUTHORIZATION_ENDPOINT", "") or ""
OIDC_OP_TOKEN_ENDPOINT = env_str("OIDC_OP_TOKEN_ENDPOINT", "") or ""
OIDC_OP_USER_ENDPOINT = env_str("OIDC_OP_USER_ENDPOINT", "") or ""
OIDC_OP_JWKS_ENDPOINT = env_str("OIDC_OP_JWKS_ENDPOINT", "") or ""
OIDC_PROVIDER_NAME = env_str("OIDC_PROVIDER_NAME", "your identity provider")
OIDC_RP_SIGN_ALGO = env_str("OIDC_RP_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = env_str("OIDC_RP_SCOPES", "openid email profile groups")
# The claim holding the user's groups (Keycloak, Entra ID, Okta and Authentik call it "groups").
OIDC_GROUPS_CLAIM = env_str("OIDC_GROUPS_CLAIM", "groups")
OIDC_USE_PKCE = True
OIDC_PKCE_CODE_CHALLENGE_METHOD = "S256"
OIDC_USE_NONCE = True
OIDC_TIMEOUT = env_int("OIDC_TIMEOUT_SECONDS", 10, minimum=1)
OIDC_ENABLED = bool(OIDC_RP_CLIENT_ID and OIDC_OP_AUTHORIZATION_ENDPOINT and OIDC_OP_TOKEN_ENDPOINT
                    and OIDC_OP_USER_ENDPOINT and OIDC_OP_JWKS_ENDPOINT)
# IdP group -> role names (controlplane/roles.py) and IdP group -> team slugs (catalog), as
# JSON objects, e.g. OIDC_GROUP_ROLES='{"cp-finance": ["Finance"]}'. Applied at every
# sign-in: the user's roles become exactly those their groups map to; team memberships the
# mapping made are added and removed with the groups (memberships added by hand stay).
OIDC_GROUP_ROLES = env_json_mapping("OIDC_GROUP_ROLES")
OIDC_GROUP_TEAMS = env_json_mapping("OIDC_GROUP_TEAMS")
# Who may still sign in with a local password while single sign-on is on: "superusers"
# only (break-glass, the default) or "all" accounts that have a password. Accounts made by
# single sign-on never have one. Without single sign-on every account signs in locally.
SSO_LOCAL_LOGIN = env_str("SSO_LOCAL_LOGIN", "superusers")
if SSO_LOCAL_LOGIN not in ("all", "superusers"):
    raise ImproperlyConfigured(f"SSO_LOCAL_LOGIN={SSO_LOCAL_LOGIN!r} must be 'all' or 'superusers'.")
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend", "sso.backend.OIDCBackend"]
# Password-reset links (local accounts only) stay valid this long (seconds); one client
# address may ask for this many reset e-mails per LOGIN_LOCKOUT_SECONDS.
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT_SECONDS", 3600, minimum=300)
PASSWORD_RESET_LIMIT_PER_ADDRESS = env_int("PASSWORD_RESET_LIMIT_PER_ADDRESS", 5, minimum=1)

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# The default backend logs one INFO line per email (recipients, subject); bodies only at
# DEBUG, so a log kept at WARNING never holds what an email said (controlplane.mail).
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "controlplane.mail.LogEmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "control-plane@localhost")
# Absolute base of every link in an email or a notification (controlplane.links). The
# default is where `make demo` serves: http://HOST:PORT.
SITE_URL = env_url(
    "SITE_URL", f"http://{env_str('HOST', '127.0.0.1')}:{env_int('PORT', 8000, minimum=1)}", schemes=("http", "https")
).rstrip("/")

DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024, minimum=1024)
# Deepest nesting of arrays/objects an API JSON body may have; deeper bodies get a 400
# before any recursive code (validation, the compatibility engine) sees them.
API_JSON_MAX_DEPTH = env_int("API_JSON_MAX_DEPTH", 100, minimum=10)

# --- API ------------------------------------------------------------------------------
# How long a web process reuses a service token lookup: a revocation elsewhere is honoured
# within this many milliseconds (controlplane.authentication). 0 turns the cache off.
SERVICE_TOKEN_CACHE_MS = env_int("SERVICE_TOKEN_CACHE_MS", 1000, minimum=0)
# How long a web process reuses an integration looked up by slug on the machine paths
# (ingest, sync runs, events: catalog.selectors.integrations_by_slug); a change made in
# another process is honoured within this many milliseconds. 0 reads it on every post.
INTEGRATION_LOOKUP_CACHE_MS = env_int("INTEGRATION_LOOKUP_CACHE_MS", 1000, minimum=0)
# Maintenance windows, read by every run and heartbeat (health.maintenance.cached_windows).
HEALTH_MAINTENANCE_CACHE_MS = env_int("HEALTH_MAINTENANCE_CACHE_MS", 1000, minimum=0)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "controlplane.authentication.ServiceTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["controlplane.permissions.ModelRolePermission"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "controlplane.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "controlplane.api.exception_handler",
    # The project's JSON parser refuses over-deep documents with a 400 (see controlplane/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "controlplane.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer", "rest_framework.renderers.BrowsableAPIRenderer"],
}
# django-filter's "no choice" option reads "Any", not "---------".
FILTERS_EMPTY_CHOICE_LABEL = "Any"
SPECTACULAR_SETTINGS = {
    "TITLE": "Integration governance control plane API",
    "DESCRIPTION": "Catalog, stewardship, exception queues, health and KPIs for an integration estate.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # System fonts: Redoc's default (Roboto, Montserrat) would come from Google's CDN.
    "REDOC_UI_SETTINGS": {"theme": {"typography": {"fontFamily": "system-ui, -apple-system, 'Segoe UI', sans-serif",
                                                   "headings": {"fontFamily": "system-ui, -apple-system, sans-serif"},
                                                   "code": {"fontFamily": "ui-monospace, Menlo, Consolas, monospace"}}}},
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1/",
    "SERVE_PERMISSIONS": ["controlplane.permissions.HasRole"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "controlplane.schema.add_error_responses",
    ],
}

# --- Outbound HTTP (probes, replays, notifications) -------------------------------------
# Hosts or CIDR ranges that outbound calls may reach even though the guard would deny them
# (loopback in development, say). Empty means: deny private-use, link-local and metadata.
OUTBOUND_URL_ALLOWLIST = env_list("OUTBOUND_URL_ALLOWLIST", [])
# Limits every outbound call shares (controlplane.outbound.policy.Limits); the total deadline
# and body cap are per caller (probe timeout_ms, HEALTH_WEBHOOK_TIMEOUT_SECONDS, EXCEPTIONS_REPLAY_*).
OUTBOUND_CONNECT_TIMEOUT_SECONDS = env_int("OUTBOUND_CONNECT_TIMEOUT_SECONDS", 5, minimum=1)
OUTBOUND_MAX_REDIRECTS = env_int("OUTBOUND_MAX_REDIRECTS", 5, minimum=0)
OUTBOUND_MAX_INFLATE_RATIO = env_int("OUTBOUND_MAX_INFLATE_RATIO", 100, minimum=10)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # A refused request (403) is logged as one line, without the traceback Django attaches.
    "filters": {"no_4xx_tracebacks": {"()": "controlplane.log_filters.NoTracebackForClientErrors"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["no_4xx_tracebacks"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- catalog ---
# Several catalog models have a ``lifecycle`` field with different choices; name their
# OpenAPI enums explicitly so the schema is stable and warning-free.
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update({
    "SystemLifecycleEnum": "catalog.choices.SystemLifecycle",
    "ApiLifecycleEnum": "catalog.choices.ApiLifecycle",
    "IntegrationLifecycleEnum": "catalog.choices.IntegrationLifecycle",
    # A workflow stage's event type and a business event's type are the one list.
    "BusinessEventTypeEnum": "kpis.choices.EventType",
})

# --- catalog intelligence ---
# Backstage import: files larger than this are refused, as are documents with more YAML
# aliases than this (YAML bombs expand aliases exponentially).
BACKSTAGE_IMPORT_MAX_BYTES = env_int("BACKSTAGE_IMPORT_MAX_BYTES", 1024 * 1024, minimum=1024)
BACKSTAGE_IMPORT_MAX_ALIASES = env_int("BACKSTAGE_IMPORT_MAX_ALIASES", 50, minimum=0)

# --- stewardship ---
# Defaults for subjects that do not set their own compatibility level / policy (the
# StewardshipSettings row, editable in admin, is created from these on first use).
STEWARDSHIP_DEFAULT_LEVEL = env_str("STEWARDSHIP_DEFAULT_LEVEL", "BACKWARD")
STEWARDSHIP_DEFAULT_POLICY = env_str("STEWARDSHIP_DEFAULT_POLICY", "STRICT")
if STEWARDSHIP_DEFAULT_LEVEL not in {
    "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE", "NONE"
}:
    raise ImproperlyConfigured(f"STEWARDSHIP_DEFAULT_LEVEL={STEWARDSHIP_DEFAULT_LEVEL!r} is not a compatibility level")
if STEWARDSHIP_DEFAULT_POLICY not in {"STRICT", "LENIENT"}:
    raise ImproperlyConfigured(f"STEWARDSHIP_DEFAULT_POLICY={STEWARDSHIP_DEFAULT_POLICY!r} must be STRICT or LENIENT")
# Shortest justification (characters) a steward may give when accepting a breaking finding.
STEWARDSHIP_MIN_JUSTIFICATION = env_int("STEWARDSHIP_MIN_JUSTIFICATION", 20, minimum=1)
# Seconds the compatibility engine may spend on one submission before reporting a timeout.
STEWARDSHIP_CHECK_TIME_BUDGET = env_int("STEWARDSHIP_CHECK_TIME_BUDGET", 5, minimum=1)
# Absolute base of links in notification emails, e.g. https://control-plane.example.com
STEWARDSHIP_BASE_URL = env_str("STEWARDSHIP_BASE_URL", "") or SITE_URL
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update({
    "CompatibilityLevelEnum": "stewardship.choices.CompatLevel",
    "CompatibilityPolicyEnum": "stewardship.choices.CompatPolicy",
    "SchemaVersionStatusEnum": "stewardship.choices.VersionStatus",
    "SorStatusEnum": "stewardship.choices.SorStatus",
    "SorScopeTypeEnum": "stewardship.choices.ScopeType",
    "ReviewDecisionEnum": "stewardship.choices.ReviewDecision",
})

# --- exceptions ---
# Largest failed payload stored per exception (bytes of its JSON).
EXCEPTIONS_MAX_PAYLOAD_BYTES = env_int("EXCEPTIONS_MAX_PAYLOAD_BYTES", 256 * 1024, minimum=1024)
# Most items in one ingestion post.
EXCEPTIONS_MAX_BATCH = env_int("EXCEPTIONS_MAX_BATCH", 1000, minimum=1)
# How long a web process keeps routing rules and default queues (ms): another process's
# rule change is honoured within this; 0 reads them on every ingest.
EXCEPTIONS_ROUTING_CACHE_MS = env_int("EXCEPTIONS_ROUTING_CACHE_MS", 1000, minimum=0)
# Replay: seconds before the first retry (doubles each time) and the HTTP timeout.
EXCEPTIONS_REPLAY_BACKOFF_SECONDS = env_int("EXCEPTIONS_REPLAY_BACKOFF_SECONDS", 30, minimum=0)
EXCEPTIONS_REPLAY_TIMEOUT_SECONDS = env_int("EXCEPTIONS_REPLAY_TIMEOUT_SECONDS", 10, minimum=1)
# The timeout is a TOTAL deadline for one attempt (connect, headers, body), so a target
# trickling bytes cannot hold a worker; at most this many response bytes are read (after
# decompression; the rest is dropped unread).
EXCEPTIONS_REPLAY_MAX_RESPONSE_BYTES = env_int("EXCEPTIONS_REPLAY_MAX_RESPONSE_BYTES", 64 * 1024, minimum=1024)
# The global search offers "keys containing ..." (a table scan) only while the exception
# table has at most this many rows; exact-key search (indexed) is always offered.
EXCEPTIONS_CONTAINS_SEARCH_MAX_ROWS = env_int("EXCEPTIONS_CONTAINS_SEARCH_MAX_ROWS", 100_000, minimum=0)
# Severity appears as two fields (severity, reported_severity): one enum name in the schema.
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update({
    "ExceptionSeverityEnum": "exceptions.choices.Severity",
    "ExceptionStatusEnum": "exceptions.choices.Status",
    "ResolutionCodeEnum": "exceptions.choices.Resolution",
})

# --- health ---
# Probe sweeps: how many probes one sweep claims, how many run at once, the lease that
# keeps another worker off them, and the cap on the response body a probe reads.
HEALTH_SWEEP_BATCH = env_int("HEALTH_SWEEP_BATCH", 10000, minimum=1)
HEALTH_SWEEP_CONCURRENCY = env_int("HEALTH_SWEEP_CONCURRENCY", 500, minimum=1)
HEALTH_LEASE_SECONDS = env_int("HEALTH_LEASE_SECONDS", 120, minimum=10)
HEALTH_MAX_BODY_BYTES = env_int("HEALTH_MAX_BODY_BYTES", 65536, minimum=1024)
# Retention: raw probe results, hourly and daily rollups (days).
HEALTH_RESULT_RETENTION_DAYS = env_int("HEALTH_RESULT_RETENTION_DAYS", 7, minimum=1)
HEALTH_HOURLY_ROLLUP_RETENTION_DAYS = env_int("HEALTH_HOURLY_ROLLUP_RETENTION_DAYS", 35, minimum=31)
HEALTH_DAILY_ROLLUP_RETENTION_DAYS = env_int("HEALTH_DAILY_ROLLUP_RETENTION_DAYS", 400, minimum=31)
# Pushed runs: how far in the future a reported finish may be before it is flagged as skew.
HEALTH_CLOCK_SKEW_TOLERANCE_SECONDS = env_int("HEALTH_CLOCK_SKEW_TOLERANCE_SECONDS", 300, minimum=0)
# Heartbeat pings (healthchecks' protocol): the request body kept as the run's log, capped
# (the rest is dropped and the ping marked truncated), and how long pings are kept.
HEARTBEAT_BODY_LIMIT_BYTES = env_int("HEARTBEAT_BODY_LIMIT_BYTES", 10_000, minimum=0)
HEARTBEAT_PING_RETENTION_DAYS = env_int("HEARTBEAT_PING_RETENTION_DAYS", 30, minimum=1)
# Notifications: attempts, first backoff (doubles each time), webhook timeout, link base.
HEALTH_NOTIFY_MAX_ATTEMPTS = env_int("HEALTH_NOTIFY_MAX_ATTEMPTS", 5, minimum=1)
HEALTH_NOTIFY_BACKOFF_SECONDS = env_int("HEALTH_NOTIFY_BACKOFF_SECONDS", 30, minimum=1)
# The SLA-breach hand-off to the exception queues (health.tasks.hand_off_breach).
HEALTH_HAND_OFF_MAX_ATTEMPTS = env_int("HEALTH_HAND_OFF_MAX_ATTEMPTS", 10, minimum=1)
HEALTH_HAND_OFF_BACKOFF_SECONDS = env_int("HEALTH_HAND_OFF_BACKOFF_SECONDS", 30, minimum=1)
HEALTH_WEBHOOK_TIMEOUT_SECONDS = env_int("HEALTH_WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1)
HEALTH_SITE_URL = env_str("HEALTH_SITE_URL", "") or SITE_URL
# Status board: seconds between htmx refreshes of the tiles.
HEALTH_BOARD_REFRESH_SECONDS = env_int("HEALTH_BOARD_REFRESH_SECONDS", 10, minimum=1)
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update({
    "HealthStatusEnum": "health.choices.Status",
    "SyncRunStatusEnum": "health.choices.RunStatus",
    "NotificationDeliveryStatusEnum": "health.choices.DeliveryStatus",
    "ProbeStateEnum": "health.choices.ProbeState",
})

# --- kpis ---
# Money KPIs are computed in this currency (ISO 4217), each amount converted with the FX
# rate of its own date or the latest earlier one (kpis.fx); unconvertible amounts are
# counted apart, never added raw.
REPORTING_CURRENCY = (env_str("REPORTING_CURRENCY", "EUR") or "").strip().upper()
if not (len(REPORTING_CURRENCY) == 3 and REPORTING_CURRENCY.isalpha()):
    raise ImproperlyConfigured(f"REPORTING_CURRENCY={REPORTING_CURRENCY!r} is not a three-letter ISO 4217 code.")
# Late data marks the snapshots it touches dirty; one refresh drains them this many seconds
# after the first mark, however many posts arrive meanwhile.
KPI_REFRESH_DEBOUNCE_SECONDS = env_int("KPI_REFRESH_DEBOUNCE_SECONDS", 5, minimum=0)
# The demo's simulated ERP/PSA/billing endpoints under /demo/ (health checks and replay
# targets, controlplane/scenario/receiver.py): on with DEBUG unless said otherwise.
DEMO_ENDPOINTS = env_bool("DEMO_ENDPOINTS", DEBUG)

# --- telemetry (OTLP traces from the middleware at /otlp/v1/traces) -----------------------
# Span attributes that carry the business key, first found wins (baggage reaches spans as
# attributes through the SDK's baggage span processor); the flow; the integration's slug.
OTLP_BUSINESS_KEY_ATTRIBUTES = env_list("OTLP_BUSINESS_KEY_ATTRIBUTES", [
    "invoice.number", "business.key", "project.code", "messaging.message.conversation_id"])
OTLP_FLOW_ATTRIBUTES = env_list("OTLP_FLOW_ATTRIBUTES", ["flow.name", "messaging.destination.name"])
OTLP_INTEGRATION_ATTRIBUTES = env_list("OTLP_INTEGRATION_ATTRIBUTES", ["integration.slug"])
# service.name -> integration slug, JSON (e.g. '{"boomi-netsuite-sync": "netsuite-to-certinia"}');
# a service.name equal to an integration's slug needs no entry.
OTLP_SERVICE_INTEGRATIONS = {k: v[0] for k, v in env_json_mapping("OTLP_SERVICE_INTEGRATIONS").items()}
# Error spans of a known integration open an exception, or count on the open one with the
# same fingerprint, made of the integration and these parts: any of "span" (its name),
# "error_type" (exception.type), "business_key". "off" (alone) opens none.
OTLP_EXCEPTION_DEDUPE_BY = env_list("OTLP_EXCEPTION_DEDUPE_BY", ["span", "error_type", "business_key"])
if not set(OTLP_EXCEPTION_DEDUPE_BY) <= {"span", "error_type", "business_key", "off"}:
    raise ImproperlyConfigured(f"OTLP_EXCEPTION_DEDUPE_BY={OTLP_EXCEPTION_DEDUPE_BY!r}: use span, error_type, "
                               "business_key, or off.")
OTLP_EXCEPTION_SEVERITY = env_str("OTLP_EXCEPTION_SEVERITY", "high")
if OTLP_EXCEPTION_SEVERITY not in ("critical", "high", "medium", "low"):
    raise ImproperlyConfigured(f"OTLP_EXCEPTION_SEVERITY={OTLP_EXCEPTION_SEVERITY!r}: use critical, high, medium or low.")
OTLP_RETENTION_DAYS = env_int("OTLP_RETENTION_DAYS", 7, minimum=1)
OTLP_MAX_BODY_BYTES = env_int("OTLP_MAX_BODY_BYTES", 8 * 1024 * 1024, minimum=1024)
OTLP_MAX_SPANS_PER_REQUEST = env_int("OTLP_MAX_SPANS_PER_REQUEST", 10000, minimum=1)

# --- metrics (/metrics, controlplane.metrics; docs/metrics.md) ---
# Who may scrape: callers from these addresses or CIDR ranges (REMOTE_ADDR), callers
# presenting METRICS_BEARER_TOKEN, or a service token with "read metrics". Empty = tokens only.
METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS", [])
METRICS_BEARER_TOKEN = env_str("METRICS_BEARER_TOKEN", "") or ""
if METRICS_BEARER_TOKEN and len(METRICS_BEARER_TOKEN) < 32:
    raise ImproperlyConfigured("METRICS_BEARER_TOKEN must be at least 32 characters (a random secret).")
for _net in METRICS_ALLOWED_IPS:
    try:
        ipaddress.ip_network(_net, strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(f"METRICS_ALLOWED_IPS: {_net!r} is not an IP address or CIDR range.") from _exc
# The SLA window the sla_* families report (24h, 7d or 30d) and the KPI period (day, week, month).
METRICS_SLA_WINDOW = env_str("METRICS_SLA_WINDOW", "30d")
if METRICS_SLA_WINDOW not in ("24h", "7d", "30d"):
    raise ImproperlyConfigured(f"METRICS_SLA_WINDOW={METRICS_SLA_WINDOW!r}: expected 24h, 7d or 30d.")
METRICS_KPI_PERIOD = env_str("METRICS_KPI_PERIOD", "week")
if METRICS_KPI_PERIOD not in ("day", "week", "month"):
    raise ImproperlyConfigured(f"METRICS_KPI_PERIOD={METRICS_KPI_PERIOD!r}: expected day, week or month.")
