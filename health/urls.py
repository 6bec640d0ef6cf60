from django.urls import path

from . import views

app_name = "health"
urlpatterns = [
    path("", views.BoardView.as_view(), name="home"),
    path("sla/", views.SlaAttainmentView.as_view(), name="sla"),
    path("integrations/<slug:slug>/", views.IntegrationHealthView.as_view(), name="integration"),
]
