from django.urls import path

from . import views

app_name = "traces-api"
urlpatterns = [
    path("traces/", views.TraceView.as_view(), name="trace"),
    path("cloudevents/", views.CloudEventsView.as_view(), name="cloudevents"),
    path("cloudevents/mappings/", views.MappingListCreateView.as_view(), name="mappings"),
    path("cloudevents/mappings/<int:pk>/", views.MappingDetailView.as_view(), name="mapping"),
]
