app_name = "health-api"
urlpatterns = []
