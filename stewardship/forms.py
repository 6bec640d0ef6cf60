"""HTML forms: input shapes only; views pass cleaned data to the services."""

import json

from django import forms
from django.contrib.auth import get_user_model

from catalog.models import Api, CanonicalEntity, System
from controlplane import roles
from controlplane.forms import PersonChoiceField
from controlplane.validation import COMMENT_MAX_LENGTH, parse_json_text

from .choices import CompatLevel, CompatPolicy, SchemaFormat, ScopeType


class JSONDocumentField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 22, "class": "code", "spellcheck": "false"})

    def prepare_value(self, value):
        if isinstance(value, dict | list):
            return json.dumps(value, indent=2)
        return value

    def to_python(self, value):
        value = super().to_python(value)
        if value in ("", None):
            return None
        document = parse_json_text(value)
        if not isinstance(document, dict):
            raise forms.ValidationError("The schema must be a JSON object.")
        return document


class SubjectForm(forms.Form):
    name = forms.CharField(max_length=200)
    slug = forms.SlugField(max_length=100)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    entity = forms.ModelChoiceField(CanonicalEntity.objects.order_by("name"), required=False, to_field_name="slug")
    api = forms.ModelChoiceField(Api.objects.order_by("name"), required=False, to_field_name="slug", label="API")
    format = forms.ChoiceField(choices=SchemaFormat.choices)
    compatibility_level = forms.ChoiceField(choices=[("", "Global default"), *CompatLevel.choices], required=False)
    policy = forms.ChoiceField(choices=[("", "Global default"), *CompatPolicy.choices], required=False)


class DraftForm(forms.Form):
    document = JSONDocumentField()
    change_summary = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class CommentForm(forms.Form):
    comment = forms.CharField(required=False, max_length=COMMENT_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 2}))


class AcceptanceForm(forms.Form):
    finding_type = forms.CharField(max_length=64, widget=forms.HiddenInput)
    path = forms.CharField(max_length=500, widget=forms.HiddenInput)
    justification = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))


class SorProposalForm(forms.Form):
    entity = forms.ModelChoiceField(CanonicalEntity.objects.order_by("name"), to_field_name="slug")
    scope_type = forms.ChoiceField(choices=ScopeType.choices, initial=ScopeType.GLOBAL)
    scope_value = forms.CharField(max_length=100, required=False, help_text="Region, legal entity or business unit.")
    attribute_group = forms.CharField(max_length=100, initial="all")
    system = forms.ModelChoiceField(System.objects.order_by("name"), to_field_name="slug")
    steward = PersonChoiceField(
        get_user_model().objects.filter(groups__name=roles.STEWARD).order_by("username"), required=False,
        to_field_name="username",
    )
    effective_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    effective_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    comments = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class SubjectSettingsForm(forms.Form):
    compatibility_level = forms.ChoiceField(choices=[("", "Global default"), *CompatLevel.choices], required=False)
    policy = forms.ChoiceField(choices=[("", "Global default"), *CompatPolicy.choices], required=False)
