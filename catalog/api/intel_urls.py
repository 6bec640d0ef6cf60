app_name = "catalog-intel-api"
urlpatterns = []
