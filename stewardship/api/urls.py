app_name = "stewardship-api"
urlpatterns = []
