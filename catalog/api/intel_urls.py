from django.urls import path
from rest_framework.routers import SimpleRouter

from . import intel_views as views

app_name = "catalog-intel-api"
router = SimpleRouter()
router.register("entity-derivations", views.DerivationViewSet, basename="derivation")
urlpatterns = [
    path("impact/", views.ImpactView.as_view(), name="impact"),
    path("graph/", views.GraphView.as_view(), name="graph"),
    path("scorecards/", views.ScorecardView.as_view(), name="scorecards"),
    path("import/backstage/", views.BackstageImportView.as_view(), name="backstage-import"),
    path("import/backstage/batches/", views.BackstageImportListView.as_view(), name="backstage-batches"),
    path("import/backstage/batches/<int:pk>/apply/", views.BackstageApplyView.as_view(), name="backstage-apply"),
    path("import/backstage/unresolved/", views.UnresolvedReferenceListView.as_view(), name="backstage-unresolved"),
    path("export/backstage/", views.BackstageExportView.as_view(), name="backstage-export"),
    path("estate-map/", views.EstateMapView.as_view(), name="estate-map"),
    *router.urls,
]
