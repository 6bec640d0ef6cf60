import django_filters
from django import forms

from .models import FxRate


class FxRateFilterSet(django_filters.FilterSet):
    """FX rates by currency and date range; the API and the rates page use it."""

    base = django_filters.CharFilter(field_name="base", lookup_expr="iexact", max_length=3, label="Base")
    quote = django_filters.CharFilter(field_name="quote", lookup_expr="iexact", max_length=3, label="Quote")
    date_from = django_filters.DateFilter(field_name="date", lookup_expr="gte", label="From",
                                        widget=forms.DateInput(attrs={"type": "date"}))
    date_to = django_filters.DateFilter(field_name="date", lookup_expr="lte", label="To",
                                      widget=forms.DateInput(attrs={"type": "date"}))

    class Meta:
        model = FxRate
        fields = ["base", "quote", "date_from", "date_to"]
