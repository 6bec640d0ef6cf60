from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model

from controlplane.forms import PersonChoiceField, name_people
from controlplane.validation import BIGINT_MAX, COMMENT_MAX_LENGTH, parse_json_text

from .choices import Resolution
from .models import RoutingRule


class ResolveForm(forms.Form):
    resolution_code = forms.ChoiceField(choices=Resolution.choices)
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class CommentForm(forms.Form):
    body = forms.CharField(max_length=COMMENT_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Write a comment; @username to mention"}))


class AssignForm(forms.Form):
    """Offers only the people who may work the queue's exceptions (``selectors.may_work``)."""

    assignee = PersonChoiceField(queryset=get_user_model().objects.none(), to_field_name="username", required=False,
                                 empty_label="Nobody (unassign)")

    def __init__(self, *args, queue, **kwargs):
        from .selectors import may_work

        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = may_work(queue)


class PayloadForm(forms.Form):
    payload = forms.CharField(widget=forms.Textarea(attrs={"rows": 18, "spellcheck": "false", "class": "json-editor"}))

    def clean_payload(self):
        text = self.cleaned_data["payload"]
        if len(text.encode()) > settings.EXCEPTIONS_MAX_PAYLOAD_BYTES * 2:
            raise forms.ValidationError("The payload is too large.")
        return parse_json_text(text)


class BulkForm(forms.Form):
    ids = forms.TypedMultipleChoiceField(coerce=int, choices=[])
    action = forms.ChoiceField(choices=[("assign_me", "Assign to me"), ("resolve", "Resolve"),
                                        ("dismiss", "Dismiss"), ("replay", "Replay")])
    resolution_code = forms.ChoiceField(choices=[("", "—"), *Resolution.choices], required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # any ids (within the id column); the services check each exception
        self.fields["ids"].valid_value = lambda value: str(value).isdigit() and int(value) <= BIGINT_MAX


class RoutingRuleForm(forms.ModelForm):
    class Meta:
        model = RoutingRule
        fields = ["position", "name", "enabled", "integration", "entity", "error_code", "error_code_match", "severity",
                  "business_key", "business_value", "queue", "assignee", "raise_severity_to"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        name_people(self, "assignee")
