from django.urls import path

from . import intel_views as views

app_name = "catalog_intel"
urlpatterns = [
    path("impact/<str:kind>/<slug:slug>/", views.impact_page, name="impact"),
    path("scorecards/", views.scorecards_page, name="scorecards"),
    path("estate-map/", views.estate_map_page, name="estate-map"),
    path("intel/panel/<str:kind>/<slug:slug>/", views.panel, name="panel"),
    path("backstage/import/", views.import_page, name="backstage-import"),
    path("backstage/import/<int:pk>/", views.batch_page, name="backstage-batch"),
    path("backstage/import/<int:pk>/apply/", views.apply_batch, name="backstage-apply"),
    path("backstage/export/", views.export_download, name="backstage-export"),
]
