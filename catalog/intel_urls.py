app_name = "catalog_intel"
urlpatterns = []
