from django.urls import path
from rest_framework.routers import DefaultRouter

from . import views

app_name = "exceptions-api"

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("items", views.BusinessExceptionViewSet, basename="exception")
router.register("queues", views.QueueViewSet, basename="queue")
router.register("rules", views.RoutingRuleViewSet, basename="rule")

urlpatterns = [
    path("ingest/", views.IngestView.as_view(), name="ingest"),
    path("resolve/", views.AutoResolveView.as_view(), name="resolve"),
    *router.urls,
]
