import django_filters
from django.db.models import Q

from catalog.models import Integration, Team, Workflow
from controlplane.filters import PickerSelect

from .choices import Status


class IntegrationHealthFilterSet(django_filters.FilterSet):
    """Filters of the status board (and anything listing integrations by health)."""

    q = django_filters.CharFilter(method="search", label="Search")
    status = django_filters.ChoiceFilter(field_name="health__status", choices=Status.choices, empty_label="Any status")
    team = django_filters.ModelChoiceFilter(field_name="owner_team", queryset=Team.objects.all(), to_field_name="slug",
                                            label="Owner team", widget=PickerSelect("team"))
    workflow = django_filters.ModelChoiceFilter(field_name="workflows", queryset=Workflow.objects.all(),
                                                to_field_name="slug", widget=PickerSelect("workflow"))

    class Meta:
        model = Integration
        fields = ["q", "status", "team", "workflow"]

    def search(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(slug__icontains=value))
