"""FilterSets shared by the API and the HTML list pages."""

import django_filters

from .choices import SchemaFormat, ScopeType, SorStatus, VersionStatus
from .models import SchemaSubject, SchemaVersion, SorAssignment


class SchemaSubjectFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    format = django_filters.ChoiceFilter(choices=SchemaFormat.choices)
    entity = django_filters.CharFilter(field_name="entity__slug")
    api = django_filters.CharFilter(field_name="api__slug")

    class Meta:
        model = SchemaSubject
        fields = ["q", "format", "entity", "api"]

    def search(self, queryset, name, value):
        return queryset.filter(name__icontains=value) | queryset.filter(slug__icontains=value)


class SchemaVersionFilterSet(django_filters.FilterSet):
    subject = django_filters.CharFilter(field_name="subject__slug")
    status = django_filters.MultipleChoiceFilter(choices=VersionStatus.choices)
    author = django_filters.CharFilter(field_name="author__username")

    class Meta:
        model = SchemaVersion
        fields = ["subject", "status", "author"]


class SorAssignmentFilterSet(django_filters.FilterSet):
    entity = django_filters.CharFilter(field_name="entity__slug")
    system = django_filters.CharFilter(field_name="system__slug")
    status = django_filters.MultipleChoiceFilter(choices=SorStatus.choices)
    scope_type = django_filters.ChoiceFilter(choices=ScopeType.choices)

    class Meta:
        model = SorAssignment
        fields = ["entity", "system", "status", "scope_type", "attribute_group"]
