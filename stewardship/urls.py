app_name = "stewardship"
urlpatterns = []
