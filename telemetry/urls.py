from django.urls import path

from . import views

urlpatterns = [
    path("v1/traces", views.traces, name="otlp-traces"),
]
