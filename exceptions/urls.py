from django.urls import path

from . import views

app_name = "exceptions"
urlpatterns = [
    path("", views.home, name="home"),
    path("list/", views.exception_list, name="list"),
    path("mine/", views.my_work, name="mine"),
    path("export.csv", views.export_csv, name="export"),
    path("export.xlsx", views.export_xlsx, name="export-xlsx"),
    path("bulk/", views.bulk_action, name="bulk"),
    path("rules/", views.rule_list, name="rules"),
    path("rules/new/", views.rule_edit, name="rule-new"),
    path("rules/<int:pk>/", views.rule_edit, name="rule-edit"),
    path("<int:pk>/", views.exception_detail, name="detail"),
    path("<int:pk>/comment/", views.add_comment, name="comment"),
    path("<int:pk>/replay/", views.edit_and_replay, name="replay"),
    path("<int:pk>/<slug:name>/", views.exception_action, name="action"),
]
