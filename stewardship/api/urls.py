from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

app_name = "stewardship-api"

router = SimpleRouter()
router.register("subjects", views.SchemaSubjectViewSet, basename="subject")
router.register("versions", views.SchemaVersionViewSet, basename="version")
router.register("sor-assignments", views.SorAssignmentViewSet, basename="sor")

urlpatterns = [
    path("compatibility/", views.CompatibilityView.as_view(), name="compatibility"),
    *router.urls,
]
