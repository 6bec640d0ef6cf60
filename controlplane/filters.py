"""Filter pieces shared by every app's FilterSets."""

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _


class AnyYesNoSelect(forms.NullBooleanSelect):
    """Django's null-boolean select says "Unknown" for "don't filter"; say "Any"."""

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.choices = (("unknown", _("Any")), ("true", _("Yes")), ("false", _("No")))


class YesNoFilter(django_filters.BooleanFilter):
    """A boolean filter whose form control reads Any / Yes / No (API: true/false)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", AnyYesNoSelect)
        super().__init__(*args, **kwargs)
