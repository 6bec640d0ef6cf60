app_name = "exceptions-api"
urlpatterns = []
