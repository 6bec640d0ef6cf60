from django.urls import include, path, re_path
from rest_framework.routers import DefaultRouter

from . import views

app_name = "health-api"

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("health/status", views.StatusViewSet, basename="status")
router.register("health/probes", views.ProbeViewSet, basename="probe")
router.register("health/maintenance", views.MaintenanceWindowViewSet, basename="maintenance")
router.register("health/channels", views.ChannelViewSet, basename="channel")
router.register("health/notifications", views.NotificationViewSet, basename="notification")
router.register("health/flips", views.FlipViewSet, basename="flip")

urlpatterns = [
    path("integrations/<slug:slug>/runs/", views.IntegrationRunsView.as_view(), name="integration-runs"),
    path("heartbeat/<uuid:token>/", views.heartbeat, name="heartbeat"),
    path("heartbeat/<uuid:token>/fail/", views.heartbeat, {"failed": True}, name="heartbeat-fail"),
    # healthchecks.io's ping URLs, with or without the trailing slash cron one-liners omit.
    re_path(r"^heartbeat/(?P<token>[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12})"
            r"(?:/(?P<action>start|fail|log|[0-9]{1,3}))?/?$", views.heartbeat, name="heartbeat-ping"),
    path("health/sla/", views.SlaAttainmentView.as_view(), name="sla"),
    path("", include(router.urls)),
]
