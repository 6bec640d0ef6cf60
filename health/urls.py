from django.urls import path

from . import manage_views, views

app_name = "health"
urlpatterns = [
    path("", views.BoardView.as_view(), name="home"),
    path("sla/", views.SlaAttainmentView.as_view(), name="sla"),
    path("integrations/<slug:slug>/", views.IntegrationHealthView.as_view(), name="integration"),
    path("integrations/<slug:slug>/probes/add/", manage_views.ProbeCreateView.as_view(), name="probe-add"),
    path("integrations/<slug:slug>/settings/", manage_views.HealthConfigEditView.as_view(), name="config-edit"),
    path("probes/<int:pk>/edit/", manage_views.ProbeEditView.as_view(), name="probe-edit"),
    path("probes/<int:pk>/delete/", manage_views.ProbeDeleteView.as_view(), name="probe-delete"),
    path("maintenance/add/", manage_views.MaintenanceCreateView.as_view(), name="maintenance-add"),
    path("maintenance/<int:pk>/delete/", manage_views.MaintenanceDeleteView.as_view(), name="maintenance-delete"),
    path("channels/", manage_views.ChannelListView.as_view(), name="channels"),
    path("channels/add/", manage_views.ChannelCreateView.as_view(), name="channel-add"),
    path("channels/<int:pk>/", manage_views.ChannelDetailView.as_view(), name="channel"),
]
