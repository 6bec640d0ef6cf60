from django.urls import path

from . import receiver

app_name = "demo"

urlpatterns = [
    path("<slug:system>/health", receiver.health, name="health"),
    path("<slug:system>/<slug:resource>", receiver.receive, name="receive"),
]
