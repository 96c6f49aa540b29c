from django import forms
from django.utils.translation import gettext_lazy as _

from privacy.models import AccessLogEntry


class PersonFindForm(forms.Form):
    email = forms.EmailField(label=_("Email address"), max_length=254)


class PersonEraseForm(PersonFindForm):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=300,
        help_text=_("For the erasure record, such as the request's reference. No personal data."),
    )
    confirm = forms.BooleanField(
        label=_("I understand that this cannot be undone."),
        error_messages={"required": _("Tick the box to confirm the erasure.")},
    )


class AccessLogFilterForm(forms.Form):
    SORTS = {"newest": ("-created_at", "-id"), "oldest": ("created_at", "id")}

    action = forms.ChoiceField(
        label=_("Action"),
        required=False,
        choices=[("", _("Every action")), *AccessLogEntry.Action.choices],
    )
    sort = forms.ChoiceField(
        label=_("Sort"),
        required=False,
        choices=[("newest", _("Newest first")), ("oldest", _("Oldest first"))],
    )
