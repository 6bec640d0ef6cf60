from django.urls import path

from . import views

app_name = "kpis-api"
urlpatterns = [
    path("events/", views.EventListCreateView.as_view(), name="events"),
    path("reconciliations/", views.ReconciliationCreateView.as_view(), name="reconciliations"),
    path("fx-rates/", views.FxRateListCreateView.as_view(), name="fx-rates"),
    path("kpis/", views.KpiListView.as_view(), name="kpi-list"),
    path("kpis/<slug:key>/series/", views.KpiSeriesView.as_view(), name="kpi-series"),
]
