"""Control-plane API routes (KPIs, business events) under /api/v1/."""

app_name = "controlplane-api"
urlpatterns = []
