"""Form pieces every app's pages share."""

from django import forms

from controlplane.audit import display_name


class PersonChoiceField(forms.ModelChoiceField):
    """A choice of user offered as people know them ("Fran Finance"), not by username."""

    def label_from_instance(self, obj):
        return display_name(obj)


def name_people(form, *fields):
    """Offer the user choices ``fields`` of a ModelForm by name (its FK fields are built by
    Django as plain ModelChoiceFields)."""
    for name in fields:
        if name in form.fields:
            form.fields[name].label_from_instance = display_name
