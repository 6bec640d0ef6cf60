"""The one FilterSet of business exceptions, shared by the list page, the CSV export and
the API. Every filter maps onto an indexed column so it stays fast at a million rows."""

import datetime
from decimal import Decimal

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone

from catalog.models import CanonicalEntity, Integration
from controlplane.filters import FilterForm, PickerSelect, StaticFormFilterSet, YesNoFilter

from .choices import CLOSED_STATUSES, INDEXED_BUSINESS_KEYS, OPEN_STATUSES, AgeBucket, Severity, Status
from .models import BusinessException, Queue

AMOUNT_MAX = Decimal("99999999999999.99")
STATUS_CHOICES = [("open", "Open (any)"), ("closed", "Closed (any)"), *Status.choices]


class BusinessExceptionFilterSet(StaticFormFilterSet):
    q = django_filters.CharFilter(method="filter_q", label="Business key")
    queue = django_filters.ModelChoiceFilter(queryset=Queue.objects.all(), empty_label="Any")
    status = django_filters.ChoiceFilter(choices=STATUS_CHOICES, method="filter_status")
    severity = django_filters.ChoiceFilter(choices=Severity.choices)
    # The API takes slugs and usernames; the page shows name pickers (PickerSelect).
    integration = django_filters.ModelChoiceFilter(queryset=Integration.objects.all(), to_field_name="slug",
                                                   widget=PickerSelect("integration"))
    entity = django_filters.ModelChoiceFilter(queryset=CanonicalEntity.objects.all(), to_field_name="slug",
                                              widget=PickerSelect("entity"))
    assignee = django_filters.ModelChoiceFilter(
        queryset=get_user_model().objects.filter(is_active=True).order_by("username"), to_field_name="username",
        widget=PickerSelect("user"),
    )
    unassigned = YesNoFilter(field_name="assignee", lookup_expr="isnull", label="Unassigned")
    overdue = YesNoFilter(method="filter_overdue", label="Overdue")
    age = django_filters.ChoiceFilter(choices=AgeBucket.choices, method="filter_age", label="Age")
    # Bounded to the column (16 digits, 2 decimals): 1e400 is a clear 400, not a database error.
    amount_min = django_filters.NumberFilter(field_name="amount_at_risk", lookup_expr="gte", label="Amount from",
                                             min_value=0, max_value=AMOUNT_MAX)
    amount_max = django_filters.NumberFilter(field_name="amount_at_risk", lookup_expr="lte", label="Amount to",
                                             min_value=0, max_value=AMOUNT_MAX)
    error_code = django_filters.CharFilter(field_name="error_code", label="Error code")
    fingerprint = django_filters.CharFilter(field_name="fingerprint", label="Fingerprint")
    correlation_id = django_filters.CharFilter(field_name="correlation_id", label="Correlation ID")

    class Meta:
        model = BusinessException
        fields = []
        form = FilterForm

    # A key usually matches a handful of rows; more than this and the plain OR is fine.
    Q_ID_LIMIT = 10_000

    def filter_q(self, queryset, name, value):
        """Exact match on the indexed business keys, the correlation id, or ``EXC-<id>``.

        The matching ids are fetched first (a BitmapOr over the key indexes). Left inside the
        list query, PostgreSQL tends to walk the ``last_seen`` index for the LIMIT and filter
        row by row, which at a million rows with one match costs seconds."""
        value = value.strip()
        if not value:
            return queryset
        if value.upper().startswith("EXC-") and value[4:].isdigit():
            return queryset.filter(pk=int(value[4:]))
        cond = Q()
        for variant in {value, value.upper()}:
            for key in INDEXED_BUSINESS_KEYS:
                cond |= Q(**{key: variant})
            cond |= Q(correlation_id=variant)
        ids = list(BusinessException.objects.filter(cond).values_list("pk", flat=True)[: self.Q_ID_LIMIT + 1])
        if len(ids) > self.Q_ID_LIMIT:
            return queryset.filter(cond)
        return queryset.filter(pk__in=ids)

    def filter_status(self, queryset, name, value):
        if value == "open":
            return queryset.filter(status__in=OPEN_STATUSES)
        if value == "closed":
            return queryset.filter(status__in=CLOSED_STATUSES)
        return queryset.filter(status=value)

    def filter_overdue(self, queryset, name, value):
        now = timezone.now()
        overdue = Q(status__in=OPEN_STATUSES, due_at__lt=now)
        return queryset.filter(overdue) if value else queryset.exclude(overdue)

    def filter_age(self, queryset, name, value):
        now = timezone.now()
        days = datetime.timedelta(days=1)
        bounds = {
            AgeBucket.LT_1D: (now - days, None),
            AgeBucket.D1_3: (now - 3 * days, now - days),
            AgeBucket.D3_7: (now - 7 * days, now - 3 * days),
            AgeBucket.GT_7D: (None, now - 7 * days),
        }[value]
        if bounds[0]:
            queryset = queryset.filter(first_seen__gte=bounds[0])
        if bounds[1]:
            queryset = queryset.filter(first_seen__lt=bounds[1])
        return queryset
