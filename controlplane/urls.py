from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from . import views
from .csp import relaxed_csp
from .login_throttle import ThrottledLoginView

# The vendored Swagger UI and Redoc templates start their apps with inline <script> and
# inline styles (Redoc also runs a blob: worker); only these two pages get those.
_docs_csp = relaxed_csp(script_src=["'unsafe-inline'"], style_src=["'unsafe-inline'"], worker_src=["'self'", "blob:"])

handler404 = "controlplane.views.page_not_found"
handler500 = "controlplane.views.server_error"
handler403 = "controlplane.views.permission_denied"

api_v1 = [
    path("catalog/", include("catalog.api.urls")),
    path("catalog/", include("catalog.api.intel_urls")),
    path("stewardship/", include("stewardship.api.urls")),
    path("exceptions/", include("exceptions.api.urls")),
    path("", include("health.api.urls")),
    path("", include("kpis.api.urls")),
    path("", include("traces.api.urls")),
]

urlpatterns = [
    # The Confluent Schema Registry wire API over the governed subjects (clients' url:
    # https://<host>/registry/confluent). First: every consumer asks it for schemas by id,
    # and Django tries the patterns in order.
    path("registry/confluent/", include("stewardship.registry.urls")),
    path("", views.home, name="home"),
    path("search/", views.search_page, name="search"),
    path("search/suggest/", views.search_suggest, name="search-suggest"),
    path("login/", login_not_required(ThrottledLoginView.as_view(redirect_authenticated_user=True)), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Single sign-on (OIDC round trip) and password reset for local accounts.
    path("", include("sso.urls")),
    # OTLP/HTTP traces from the middleware (service token).
    path("otlp/", include("telemetry.urls")),
    path("healthz", views.healthz, name="healthz"),
    # Browsers ask for /favicon.ico on pages without a <link rel="icon"> (the admin, Swagger UI).
    path("favicon.ico", views.favicon, name="favicon"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", _docs_csp(SpectacularSwaggerView.as_view(url_name="api-schema")), name="api-docs"),
    path("api/redoc/", _docs_csp(SpectacularRedocView.as_view(url_name="api-schema", template_name="controlplane/redoc.html")),
         name="api-redoc"),
    path("api/v1/", include(api_v1)),
    path("catalog/", include("catalog.urls")),
    path("catalog/", include("catalog.intel_urls")),
    path("stewardship/", include("stewardship.urls")),
    path("exceptions/", include("exceptions.urls")),
    path("health/", include("health.urls")),
    path("kpis/", include("kpis.urls")),
    path("traces/", include("traces.urls")),
    # Simulated ERP/PSA/billing systems for the demo; 404 unless DEMO_ENDPOINTS is on.
    path("demo/", include("controlplane.scenario.urls")),
]
