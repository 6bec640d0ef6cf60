from django.urls import path

from . import views

app_name = "catalog"

urlpatterns = [path("", views.HomeView.as_view(), name="home")]

for _name, _kind in views.KINDS.items():
    urlpatterns += [
        path(f"{_kind.plural}/", views.CatalogListView.as_view(kind=_kind), name=f"{_name}-list"),
        path(f"{_kind.plural}/new/", views.CatalogFormView.as_view(kind=_kind, action="add"), name=f"{_name}-create"),
        path(f"{_kind.plural}/<slug:slug>/", views.CatalogDetailView.as_view(kind=_kind), name=f"{_name}-detail"),
        path(f"{_kind.plural}/<slug:slug>/edit/", views.CatalogFormView.as_view(kind=_kind, action="change"),
             name=f"{_name}-edit"),
        path(f"{_kind.plural}/<slug:slug>/delete/", views.CatalogDeleteView.as_view(kind=_kind),
             name=f"{_name}-delete"),
    ]
    if _kind.transitions is not None:
        urlpatterns.append(
            path(f"{_kind.plural}/<slug:slug>/lifecycle/", views.LifecycleView.as_view(kind=_kind),
                 name=f"{_name}-lifecycle")
        )

urlpatterns += [
    path("workflows/<slug:slug>/stages/new/", views.StageFormView.as_view(), name="workflow-stage-create"),
    path("workflows/<slug:slug>/stuck/", views.StuckListView.as_view(), name="workflow-stuck"),
    path("stages/<int:pk>/edit/", views.StageFormView.as_view(), name="workflow-stage-edit"),
    path("stages/<int:pk>/delete/", views.StageDeleteView.as_view(), name="workflow-stage-delete"),
    path("teams/<slug:slug>/members/add/", views.TeamMemberAddView.as_view(), name="team-member-add"),
    path("teams/<slug:slug>/members/<int:pk>/remove/", views.TeamMemberRemoveView.as_view(),
         name="team-member-remove"),
]
