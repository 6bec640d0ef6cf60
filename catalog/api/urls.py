from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

app_name = "catalog-api"

router = SimpleRouter()
router.register("teams", views.TeamViewSet, basename="team")
router.register("team-members", views.TeamMemberViewSet, basename="team-member")
router.register("domains", views.DomainViewSet, basename="domain")
router.register("systems", views.SystemViewSet, basename="system")
router.register("apis", views.ApiViewSet, basename="api")
router.register("entities", views.EntityViewSet, basename="entity")
router.register("workflows", views.WorkflowViewSet, basename="workflow")
router.register("workflow-stages", views.WorkflowStageViewSet, basename="workflow-stage")
router.register("integrations", views.IntegrationViewSet, basename="integration")
router.register("slas", views.SlaViewSet, basename="sla")

urlpatterns = [
    *router.urls,
    path("workflows/<slug:slug>/stuck/", views.StuckItemsView.as_view(), name="workflow-stuck"),
]
