"""Filter pieces shared by every app's FilterSets."""

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _

from .memo import per_class


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


class FilterForm(forms.Form):
    """The form of a ``StaticFormFilterSet``: once validated, a picker whose value named an
    object (a model choice by slug or username) knows that object's name, so drawing the
    picker does not look the object up a second time."""

    def _post_clean(self):
        super()._post_clean()
        from .audit import display_name

        for name, field in self.fields.items():
            obj = self.cleaned_data.get(name)
            if isinstance(field.widget, PickerSelect) and hasattr(obj, "_meta"):
                field.widget.known_label = (str(self.data.get(self.add_prefix(name), "")), display_name(obj))


class StaticFormFilterSet(django_filters.FilterSet):
    """A FilterSet whose filters do not depend on the request (no callable querysets):
    its form class is built once per FilterSet class instead of once per request, which
    cost half a millisecond of each list request (a new form class, a new form field
    for every filter). Each request still gets its own form and fields (a form deep-copies
    its class's fields) and its own filters."""

    class Meta:
        form = FilterForm

    def get_form_class(self):
        return per_class(self, "_static_form_class", super().get_form_class)


class PickerSelect(forms.Select):
    """A type-ahead picker for a filter that takes a slug (or a username).

    The HTML carries only the chosen option, shown by its name; the rest come from
    ``/search/suggest/?kind=...`` as the user types (Tom Select, ``static/js/pickers.js``),
    so a list of ten thousand integrations never lands in the page. The submitted value
    is still the slug, so the API and the page share one FilterSet."""

    def __init__(self, kind: str, attrs=None):
        super().__init__(attrs)
        self.kind = kind

    def get_context(self, name, value, attrs):
        from django.urls import reverse

        context = super().get_context(name, value, attrs)
        context["widget"]["attrs"]["data-picker"] = self.kind
        context["widget"]["attrs"]["data-picker-url"] = f"{reverse('search-suggest')}?kind={self.kind}"
        return context

    def optgroups(self, name, value, attrs=None):
        from .search import KINDS

        chosen = next((v for v in value if v not in (None, "")), "")
        options = [self.create_option(name, "", _("Any"), not chosen, 0)]
        if chosen:
            known = getattr(self, "known_label", None)  # set by FilterForm once validated
            label = known[1] if known and known[0] == str(chosen) else KINDS[self.kind].label_for(chosen) or chosen
            options.append(self.create_option(name, chosen, label, True, 1))
        return [(None, [option], index) for index, option in enumerate(options)]


def picker_filter(kind: str, field_name: str, label: str, **kwargs):
    """A slug filter whose form control is a name picker (``PickerSelect``)."""
    return django_filters.CharFilter(field_name=field_name, label=label, widget=PickerSelect(kind), **kwargs)
