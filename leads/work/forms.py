"""Forms of working a lead: owner, notes, next step, merge, and the list's bulk assign."""

from django import forms
from django.utils.translation import gettext_lazy as _

from leads.widgets import PlainSelect
from leads.work.selectors import member_choices
from leads.work.services import NOTE_MAX_LENGTH

UNASSIGNED = ""


class OwnerChoiceField(forms.TypedChoiceField):
    """One of the publisher's members, or nobody; any other user id is a form error."""

    def __init__(self, **kwargs):
        super().__init__(coerce=int, empty_value=None, required=False, widget=PlainSelect, **kwargs)


def _owner_choices(publisher, members=None) -> list:
    if members is None:
        members = member_choices(publisher=publisher)
    return [(UNASSIGNED, _("Nobody (unassigned)")), *members]


class LeadOwnerForm(forms.Form):
    owner = OwnerChoiceField(label=_("Owner"))

    def __init__(self, *args, publisher, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = _owner_choices(publisher)


class BulkAssignForm(forms.Form):
    """Give the ticked leads of the list to one member."""

    owner = OwnerChoiceField(label=_("Assign the selected leads to"))

    def __init__(self, *args, publisher, members=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = _owner_choices(publisher, members)


class LeadNoteForm(forms.Form):
    body = forms.CharField(
        label=_("Note"),
        max_length=NOTE_MAX_LENGTH,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class NextStepForm(forms.Form):
    next_step = forms.CharField(
        label=_("Next step"),
        max_length=200,
        required=False,
        strip=True,
        help_text=_("Leave empty to clear the next step."),
    )
    next_step_due = forms.DateField(
        label=_("Due"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self):
        data = super().clean()
        if data.get("next_step_due") and not data.get("next_step"):
            self.add_error("next_step", _("Say what the next step is."))
        return data


class LeadMergeForm(forms.Form):
    """Merge another lead of the same person (found by its address) with this one."""

    SURVIVOR_THIS, SURVIVOR_OTHER = "this", "other"

    other_email = forms.EmailField(
        label=_("The other lead's email address"),
        help_text=_("A lead of this publisher that is the same person."),
    )
    survivor = forms.ChoiceField(
        label=_("Which lead stays"),
        choices=[
            (SURVIVOR_THIS, _("This lead stays; the other is merged into it")),
            (SURVIVOR_OTHER, _("The other lead stays; this one is merged into it")),
        ],
        initial=SURVIVOR_THIS,
        widget=forms.RadioSelect,
    )
