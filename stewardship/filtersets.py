"""FilterSets shared by the API and the HTML list pages."""

import django_filters

from controlplane.filters import picker_filter

from .choices import SchemaFormat, ScopeType, SorStatus, VersionStatus
from .models import SchemaSubject, SchemaVersion, SorAssignment


class SchemaSubjectFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    format = django_filters.ChoiceFilter(choices=SchemaFormat.choices)
    entity = picker_filter("entity", "entity__slug", "Entity")
    api = picker_filter("api", "api__slug", "API")

    class Meta:
        model = SchemaSubject
        fields = ["q", "format", "entity", "api"]

    def search(self, queryset, name, value):
        return queryset.filter(name__icontains=value) | queryset.filter(slug__icontains=value)


class SchemaVersionFilterSet(django_filters.FilterSet):
    subject = picker_filter("subject", "subject__slug", "Schema subject")
    status = django_filters.MultipleChoiceFilter(choices=VersionStatus.choices)
    author = picker_filter("user", "author__username", "Author")

    class Meta:
        model = SchemaVersion
        fields = ["subject", "status", "author"]


class SorAssignmentFilterSet(django_filters.FilterSet):
    entity = picker_filter("entity", "entity__slug", "Entity")
    system = picker_filter("system", "system__slug", "System")
    status = django_filters.MultipleChoiceFilter(choices=SorStatus.choices)
    scope_type = django_filters.ChoiceFilter(choices=ScopeType.choices)

    class Meta:
        model = SorAssignment
        fields = ["entity", "system", "status", "scope_type", "attribute_group"]
