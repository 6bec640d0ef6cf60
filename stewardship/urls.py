from django.urls import path

from . import views

app_name = "stewardship"

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    path("subjects/", views.SubjectListView.as_view(), name="subject-list"),
    path("subjects/new/", views.SubjectCreateView.as_view(), name="subject-create"),
    path("subjects/<slug:slug>/", views.SubjectDetailView.as_view(), name="subject-detail"),
    path("subjects/<slug:slug>/settings/", views.SubjectSettingsView.as_view(), name="subject-settings"),
    path("subjects/<slug:slug>/versions/new/", views.DraftCreateView.as_view(), name="draft-create"),
    path("versions/<int:pk>/", views.VersionDetailView.as_view(), name="version-detail"),
    path("versions/<int:pk>/edit/", views.DraftEditView.as_view(), name="draft-edit"),
    *[
        path(f"versions/<int:pk>/{name}/", views.VersionActionView.as_view(action=name), name=f"version-{name}")
        for name in views.VersionActionView.ACTIONS
    ],
    path("sor/", views.SorMatrixView.as_view(), name="sor-matrix"),
    path("sor/propose/", views.SorProposeView.as_view(), name="sor-propose"),
    path("sor/<int:pk>/", views.SorDetailView.as_view(), name="sor-detail"),
    path("sor/<int:pk>/approve/", views.SorDecideView.as_view(decision="approve"), name="sor-approve"),
    path("sor/<int:pk>/reject/", views.SorDecideView.as_view(decision="reject"), name="sor-reject"),
    path("entities/<slug:slug>/", views.EntityStewardshipView.as_view(), name="entity-detail"),
]
