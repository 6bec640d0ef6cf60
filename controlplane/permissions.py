from rest_framework import permissions


class ModelRolePermission(permissions.DjangoModelPermissions):
    """Reads need the model's ``view`` permission, writes its add/change/delete.

    Views without a queryset declare ``required_perms = {"POST": [...], "GET": [...]}``;
    a method they do not declare is refused, so a new endpoint is closed until opened.
    """

    perms_map = {
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "POST": ["%(app_label)s.add_%(model_name)s"],
        "PUT": ["%(app_label)s.change_%(model_name)s"],
        "PATCH": ["%(app_label)s.change_%(model_name)s"],
        "DELETE": ["%(app_label)s.delete_%(model_name)s"],
    }

    def has_permission(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return False
        declared = getattr(view, "required_perms", None)
        if declared is not None:
            method = "GET" if request.method in ("HEAD", "OPTIONS") else request.method
            if method not in declared:
                return False
            return request.user.has_perms(declared[method])
        return super().has_permission(request, view)


class HasRole(permissions.BasePermission):
    """Signed in and holding at least one role (or superuser): for the API schema and docs,
    which describe every endpoint."""

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and (user.is_superuser or user.groups.exists()))
