"""The portal's CRM forms: a publisher's target form and the deliveries filter.

`PortalTargetForm` is the shared `CrmTargetForm` narrowed to what a publisher edits: no
publisher, kind or limits (those follow from the kind), listings of this publisher only,
help on where each value lives in its CRM, and extra fields as `key = value` lines. An
HTTPS target's signing secret is never typed: the service generates and rotates it.
"""

import re

from django import forms
from django.utils.text import capfirst, format_lazy
from django.utils.translation import gettext_lazy as _

from crm.forms import CONFIG_FIELD_PREFIX, CrmTargetForm
from crm.models import DELETING_KINDS, CrmTarget, Delivery
from crm.selectors import DeliveryFilters
from leads.catalog import selectors as leads_selectors

Kind = CrmTarget.Kind

# Where each value lives in its CRM (reference/crm-contracts.md, "Target configuration keys").
CONFIG_HELP: dict[str, dict[str, str]] = {
    Kind.HTTPS: {
        "httpsEndpointUrl": _(
            "The https:// address that receives the leads as JSON, for example the URL of a "
            'Power Automate "When an HTTP request is received" trigger.'
        ),
    },
    Kind.SALESFORCE: {
        "objectIdentifier": _(
            "Salesforce Setup → Company Information → Salesforce.com Organization ID "
            "(15 or 18 characters starting with 00D)."
        ),
        "baseUrl": _("Leave empty for https://webto.salesforce.com; set it for a test receiver."),
    },
    Kind.DYNAMICS365: {
        "instanceUrl": _(
            "Power Platform admin center → Environments → your environment → Environment URL, "
            "such as https://contoso.crm.dynamics.com."
        ),
        "directoryId": _(
            "Azure portal → App registrations → your app → Overview: Directory (tenant) ID."
        ),
        "applicationId": _(
            "Azure portal → App registrations → your app → Overview: Application (client) ID."
        ),
        "applicationKey": _(
            "Azure portal → App registrations → your app → Certificates & secrets → "
            "New client secret: its Value (Azure shows it only once)."
        ),
        "alternateKey": _(
            "Optional. Power Apps → Tables → Lead → Keys: the attribute of an alternate key that "
            "holds the lead id. With it, a retry updates the lead instead of duplicating it."
        ),
        "authorityUrl": _("Optional. Leave empty for https://login.microsoftonline.com."),
    },
    Kind.MARKETO: {
        "munchkinId": _(
            "Marketo Admin → Integration → Munchkin: Munchkin Account ID, like 123-ABC-456."
        ),
        "clientId": _(
            "Marketo Admin → Integration → LaunchPoint → your API-only service → View Details: "
            "Client Id."
        ),
        "clientSecret": _(
            "Marketo Admin → Integration → LaunchPoint → your service → View Details: "
            "Client Secret."
        ),
        "baseUrl": _(
            "Marketo Admin → Integration → Web Services → REST API Endpoint, without /rest. "
            "Leave empty for https://<Munchkin id>.mktorest.com."
        ),
        "serverId": _("From Partner Center's form-based Marketo set-up; kept for reference only."),
        "formId": _("From Partner Center's form-based Marketo set-up; kept for reference only."),
    },
    Kind.AZURE_TABLE: {
        "storageAccountConnectionString": _(
            "Azure portal → Storage account → Security + networking → Access keys → "
            "Connection string."
        ),
        "tableName": _("Leave empty for MarketplaceLeads. The table is created if it is missing."),
    },
}
CONTACT_EMAIL_HELP = _(
    "Failure alerts also go to these addresses, besides your lead contact email."
)

# What the publisher should know about each kind before filling the form in.
KIND_NOTES: dict[str, str] = {
    Kind.HTTPS: _(
        "Every request is signed with the Standard Webhooks headers. The signing secret is "
        "generated when you save and shown once."
    ),
    Kind.SALESFORCE: _(
        "Web-to-Lead accepts 500 leads a day per organization; leads above the cap wait. "
        "Salesforce answers 200 even when it does not create the lead, so check your org "
        "after the test lead."
    ),
    Kind.DYNAMICS365: _(
        "Register an app in Microsoft Entra ID, give it an application user in your "
        "environment with a role that can create leads, then paste its ids here."
    ),
    Kind.MARKETO: _(
        "Leads are written with the REST API (create or update by email), using an API-only "
        "user's LaunchPoint service."
    ),
    Kind.AZURE_TABLE: _(
        "Each lead becomes a row of the table, keyed by your publisher id and the delivery id."
    ),
}

EXTRA_FIELD_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
EXTRA_FIELDS_MAX = 20
EXTRA_FIELD_VALUE_MAX = 200


def extra_fields_parse(text: str) -> dict[str, str]:
    """`key = value` lines into a dict, or a ValidationError naming every bad line."""
    fields: dict[str, str] = {}
    errors = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not EXTRA_FIELD_KEY.match(key):
            errors.append(
                _("Line %(line)s: write key = value; the key is letters, digits and _.")
                % {"line": number}
            )
        elif len(value) > EXTRA_FIELD_VALUE_MAX:
            errors.append(
                _("Line %(line)s: the value is longer than %(max)s characters.")
                % {"line": number, "max": EXTRA_FIELD_VALUE_MAX}
            )
        elif key in fields:
            errors.append(_("Line %(line)s: %(key)s is repeated.") % {"line": number, "key": key})
        else:
            fields[key] = value
    if len(fields) > EXTRA_FIELDS_MAX:
        errors.append(_("At most %(max)s extra fields.") % {"max": EXTRA_FIELDS_MAX})
    if errors:
        raise forms.ValidationError(errors)
    return fields


class PortalTargetForm(CrmTargetForm):
    """A publisher's CRM target: name, scope, the kind's configuration, extra fields."""

    extra_fields = forms.CharField(
        label=_("Extra fields"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text=_(
            "Constant fields added to every lead sent, one per line as key = value, for "
            "example campaignId = 7014x000000abc. At most 20; values up to 200 characters."
        ),
    )

    class Meta(CrmTargetForm.Meta):
        fields = ["name", "scope", "listings", "extra_fields", "erasure_mode"]
        widgets = {
            "scope": forms.RadioSelect,
            "listings": forms.CheckboxSelectMultiple,
            "erasure_mode": forms.RadioSelect,
        }

    def __init__(self, *args, publisher, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["listings"].queryset = leads_selectors.listings_for_publisher(
            publisher=publisher
        )
        self.fields["listings"].help_text = _("Used when the scope is chosen listings.")
        self.fields.pop(CONFIG_FIELD_PREFIX + "signingSecret", None)
        for name in self.config_field_names:
            if name in self.fields:
                self.fields[name].label = capfirst(self.fields[name].label)
        if self.kind not in DELETING_KINDS:  # nothing to choose: the note says what happens
            self.fields.pop("erasure_mode", None)
        if not self.is_bound:  # a new target too: its default {} is shown as an empty box
            self.initial["extra_fields"] = "\n".join(
                f"{key} = {value}" for key, value in (self.instance.extra_fields or {}).items()
            )
        self._add_help()

    def _add_help(self) -> None:
        helps = {**CONFIG_HELP.get(self.kind, {}), "contactEmail": CONTACT_EMAIL_HELP}
        secret_keys = CrmTarget.PROFILES[self.kind].secret_keys if self.kind else ()
        for key, text in helps.items():
            field = self.fields.get(CONFIG_FIELD_PREFIX + key)
            if field is None:
                continue
            if key in secret_keys:
                state = _("Stored: set.") if self.stored_config.get(key) else _("Stored: not set.")
                keep = _("Leave blank to keep it.") if self.stored_config.get(key) else ""
                text = format_lazy("{} {} {}", text, state, keep)
            field.help_text = text

    @property
    def config_fields(self) -> list:
        return [self[name] for name in self.config_field_names if name in self.fields]

    @property
    def kind_note(self) -> str:
        return KIND_NOTES.get(self.kind, "")

    @property
    def erasure_note(self) -> str:
        """What an erasure does at a kind that offers no choice."""
        if self.kind == CrmTarget.Kind.HTTPS:
            return _(
                "When a person is erased, the endpoint gets a signed lead.erased event with "
                "the lead id and no personal data."
            )
        return _(
            "When a person is erased, the target's contacts get an email with the lead id "
            "and the record to look for (Web-to-Lead cannot delete a lead)."
        )

    def clean_extra_fields(self) -> dict[str, str]:
        return extra_fields_parse(self.cleaned_data.get("extra_fields") or "")

    def clean(self):
        cleaned_data = super().clean()
        chosen = cleaned_data.get("scope") == CrmTarget.Scope.CHOSEN_LISTINGS
        if chosen and not cleaned_data.get("listings") and "listings" not in self.errors:
            self.add_error("listings", _("Choose at least one listing, or cover all listings."))
        return cleaned_data


class DeliveryFilterForm(forms.Form):
    """The deliveries list's filters, all optional; `filters` is what the selector takes."""

    HAS_ERROR_CHOICES = [("", _("Any")), ("yes", _("With an error")), ("no", _("Without"))]

    target = forms.ModelChoiceField(
        label=_("Target"), queryset=CrmTarget.objects.none(), required=False, empty_label=_("All")
    )
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("All")), *Delivery.Status.choices]
    )
    event = forms.ChoiceField(
        label=_("Event"), required=False, choices=[("", _("All")), *Delivery.Event.choices]
    )
    has_error = forms.ChoiceField(label=_("Error"), required=False, choices=HAS_ERROR_CHOICES)
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    lead = forms.UUIDField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, targets=None, **kwargs):
        super().__init__(*args, **kwargs)
        if targets is None:
            del self.fields["target"]  # a single target's log: the target is fixed
        else:
            self.fields["target"].queryset = targets

    @property
    def filters(self) -> DeliveryFilters:
        data = self.cleaned_data if self.is_valid() else {}
        target = data.get("target")
        has_error = {"yes": True, "no": False}.get(data.get("has_error") or "")
        return DeliveryFilters(
            target_id=target.pk if target else None,
            status=data.get("status") or None,
            event=data.get("event") or None,
            has_error=has_error,
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            lead_uuid=data.get("lead"),
        )
