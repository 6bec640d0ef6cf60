from django.urls import path

from . import views

app_name = "kpis"
urlpatterns = [
    path("", views.OverviewView.as_view(), name="home"),
    path("rows/", views.kpi_rows, name="rows"),
    path("fx-rates/", views.FxRateListView.as_view(), name="fx-rates"),
    path("fx-rates/upload/", views.FxUploadView.as_view(), name="fx-upload"),
    path("<slug:key>/", views.KpiDetailView.as_view(), name="detail"),
    path("<slug:key>/export.csv", views.kpi_csv, name="export"),
    path("<slug:key>/export.xlsx", views.kpi_xlsx, name="export-xlsx"),
]
