"""The list pages' filter selects: optional, and led by an empty choice that means "any"."""

from django import forms

from leads.widgets import PlainSelect


class FilterChoiceField(forms.ChoiceField):
    """A filter over `choices`, led by `any_label` (the empty choice: no filter)."""

    def __init__(self, *, any_label, choices, **kwargs):
        super().__init__(
            required=False, choices=[("", any_label), *choices], widget=PlainSelect, **kwargs
        )


class FilterModelChoiceField(forms.ModelChoiceField):
    """A filter over rows, led by `any_label`; the form sets the publisher's queryset."""

    def __init__(self, *, any_label, **kwargs):
        super().__init__(
            queryset=None, required=False, empty_label=any_label, widget=PlainSelect, **kwargs
        )
