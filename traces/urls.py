from django.urls import path

from . import views

app_name = "traces"
urlpatterns = [path("", views.trace_page, name="trace")]
