"""The scoring page's forms: the rules editor (a model formset) and the threshold.

The formset's queryset is the publisher's rules only, and so is the choice of its hidden
`id` field (Django's default is every rule of the model), so a posted id of another
publisher's rule, or of no rule, is refused with a form error ("select a valid choice")
instead of quietly becoming a new rule.
"""

from django import forms
from django.forms import BaseModelFormSet, modelformset_factory
from django.utils.translation import gettext_lazy as _

from leads.catalog import selectors
from leads.catalog.storefronts import Storefront
from leads.models import LeadActivity, ScoringRule
from leads.scoring.rules import RuleSpec
from leads.scoring.services import ScoringRuleEdit

RULE_FORM_PREFIX = "rules"
MAX_RULES = 100


# The codes a rule's value may hold, as the page says them, never raw codes such as INS or PLT.
VALUE_WORDS = {
    ScoringRule.Condition.ACTION_CODE: dict(LeadActivity.ActionCode.choices),
    ScoringRule.Condition.STOREFRONT: dict(Storefront.choices),
}


def rule_value_words(*, condition: str, value: str) -> str:
    """A rule's comma-separated codes in words ("INS,PLT" → "Install / get it now, Contact
    me (partner-led trial)"); empty for a condition whose values are already words."""
    words = VALUE_WORDS.get(condition)
    if not words or not value:
        return ""
    codes = [code.strip() for code in value.split(",") if code.strip()]
    return ", ".join(str(words.get(code, code)) for code in codes)


def action_code_legend() -> list[tuple[str, str]]:
    """Each action code and its words, for the help above the rules."""
    return [(code, str(label)) for code, label in LeadActivity.ActionCode.choices]


class ScoringRuleForm(forms.ModelForm):
    """One rule: when the condition holds, the lead gets the points (−100 to 100)."""

    class Meta:
        model = ScoringRule
        fields = ["name", "condition", "value", "listing", "points", "is_active", "position"]
        labels = {"position": _("Order")}
        widgets = {
            "points": forms.NumberInput(attrs={"min": -100, "max": 100, "step": 1}),
            "position": forms.NumberInput(attrs={"min": 0, "step": 1}),
        }

    def __init__(self, *args, publisher, listing_choices=None, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.publisher_id is None:
            self.instance.publisher = publisher  # the model's clean() checks the listing's owner
        listing = self.fields["listing"]
        listing.queryset = selectors.listings_for_publisher(publisher=publisher)
        listing.empty_label = _("Any listing")
        if listing_choices is not None:
            listing.choices = listing_choices  # read once for every row, not once per row
        for field in self.fields.values():
            field.help_text = ""  # one explanation above the table, not one per row
        self.fields["position"].required = False

    @property
    def value_words(self) -> str:
        """The value's codes in words, as the row was last saved or posted."""
        condition = self["condition"].value() or ""
        return rule_value_words(condition=condition, value=self["value"].value() or "")

    def clean_position(self) -> int:
        return self.cleaned_data.get("position") or 0

    def edit(self) -> ScoringRuleEdit | None:
        """The row as the save service takes it; None for an untouched blank row."""
        data = self.cleaned_data
        if not data:
            return None
        return ScoringRuleEdit(
            id=self.instance.pk,
            name=data["name"],
            condition=data["condition"],
            value=data.get("value", ""),
            points=data["points"],
            is_active=data.get("is_active", False),
            position=data.get("position") or 0,
            listing=data.get("listing"),
            delete=bool(data.get("DELETE")),
        )


class BaseRuleFormSet(BaseModelFormSet):
    def add_fields(self, form, index) -> None:
        super().add_fields(form, index)
        # Django offers every rule of the model here; only this publisher's may be named.
        field = form.fields[self.model._meta.pk.name]
        field.queryset = self.get_queryset()
        field.error_messages["invalid_choice"] = _(
            "This rule is not one of this publisher's rules. Reload the page and try again."
        )

    def edits(self) -> list[ScoringRuleEdit]:
        return [edit for form in self.forms if (edit := form.edit()) is not None]

    def rule_specs(self) -> list[RuleSpec]:
        """The edited rules that would score: active, not deleted, in their order."""
        kept = [edit for edit in self.edits() if edit.is_active and not edit.delete]
        kept.sort(key=lambda edit: edit.position)
        return [
            RuleSpec(
                edit.id,
                edit.name,
                edit.condition,
                edit.value,
                edit.points,
                edit.listing.pk if edit.listing else None,
            )
            for edit in kept
        ]


RuleFormSet = modelformset_factory(
    ScoringRule,
    form=ScoringRuleForm,
    formset=BaseRuleFormSet,
    extra=1,
    can_delete=True,
    max_num=MAX_RULES,
    validate_max=True,
)


def rules_formset(data=None, *, publisher) -> BaseRuleFormSet:
    """The editor over the publisher's rules, plus one blank row to add a rule."""
    listings = selectors.listings_for_publisher(publisher=publisher)
    listing_choices = [("", _("Any listing"))] + [
        (listing.pk, str(listing)) for listing in listings
    ]
    return RuleFormSet(
        data,
        queryset=ScoringRule.objects.filter(publisher=publisher)
        .select_related("listing")
        .order_by("position", "pk"),
        prefix=RULE_FORM_PREFIX,
        form_kwargs={"publisher": publisher, "listing_choices": listing_choices},
    )


class ThresholdForm(forms.Form):
    threshold = forms.IntegerField(
        label=_("Qualification threshold"),
        min_value=0,
        max_value=100,
        help_text=_("A lead whose score reaches this value (0–100) is qualified."),
    )
