app_name = "exceptions"
urlpatterns = []
