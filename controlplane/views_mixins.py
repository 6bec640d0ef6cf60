"""Building blocks for the HTML pages of every app, so list pages behave the same way:
a FilterSet (the same one the API uses), a whitelist of sort keys, page-number pagination
and a permission check on every view."""

from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ImproperlyConfigured
from django.views.generic import ListView


class RolePermissionMixin(PermissionRequiredMixin):
    """``permission_required`` as usual; signed-in users without it get 403 (not a login
    loop). Read pages use the model's ``view`` permission."""

    raise_exception = True

    def dispatch(self, request, *args, **kwargs):
        # Permission first, then object lookups (prepare): otherwise a user without the
        # permission would learn which slugs exist from 404 versus 403.
        if not self.has_permission():
            return self.handle_no_permission()
        self.prepare(request, *args, **kwargs)
        return super().dispatch(request, *args, **kwargs)

    def prepare(self, request, *args, **kwargs):
        """Load what the view needs from the URL; runs only after the permission check."""


class FilteredListView(RolePermissionMixin, ListView):
    """A list page driven by ``filterset_class``.

    ``sort_fields`` maps the public ``?sort=`` keys to ORM orderings, e.g.
    ``{"name": "name", "updated": "-updated_at"}``; ``-key`` reverses. Unknown keys fall
    back to ``default_sort``. The template gets ``filter`` (the bound FilterSet),
    ``sort`` and the paginator context.
    """

    filterset_class = None
    sort_fields: dict[str, str] = {}
    default_sort = None
    paginate_by = 25

    def get_filterset(self):
        if self.filterset_class is None:
            raise ImproperlyConfigured(f"{type(self).__name__} needs a filterset_class")
        # Always bound: an unbound FilterSet is never valid, which would list nothing.
        return self.filterset_class(self.request.GET, queryset=super().get_queryset(), request=self.request)

    def get_sort(self):
        requested = self.request.GET.get("sort", "")
        key = requested.lstrip("-")
        if key in self.sort_fields:
            return requested
        return self.default_sort

    def get_queryset(self):
        self.filterset = self.get_filterset()
        queryset = self.filterset.qs if self.filterset.is_valid() else self.filterset.queryset.none()
        sort = self.get_sort()
        if sort:
            field = self.sort_fields[sort.lstrip("-")]
            if sort.startswith("-"):
                field = field[1:] if field.startswith("-") else f"-{field}"
            queryset = queryset.order_by(field, "pk")
        return queryset

    def get_paginate_by(self, queryset):
        try:
            size = int(self.request.GET.get("page_size", self.paginate_by))
        except ValueError:
            size = self.paginate_by
        return max(1, min(size, 200))

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["filter"] = self.filterset
        context["sort"] = self.get_sort() or ""
        return context
