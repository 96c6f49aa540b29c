"""The CRM target form: one field per configuration key of the target's kind.

Staff use it in admin and publishers will use it in the portal, so it imports nothing
of the admin. Secrets are write-only: a secret field renders empty, says whether a value
is stored, and left blank keeps the stored value (DESIGN §3, reference/crm-contracts.md).
"""

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _

from crm.connectors import azure_table, ssrf
from crm.connectors.base import ConfigurationError
from crm.models import DELETING_KINDS, CrmTarget, ErasureMode

Kind = CrmTarget.Kind


@dataclass(frozen=True)
class ConfigKey:
    """One key of a target's `config`, as Partner Center's lead configuration names it."""

    name: str
    label: str
    type: str = "text"  # "text", "url" or "emails"


# reference/crm-contracts.md, "Target configuration keys". Which keys are secret or
# required comes from CrmTarget.PROFILES, so that the model stays the single authority.
CONFIG_KEYS: dict[str, tuple[ConfigKey, ...]] = {
    Kind.HTTPS: (
        ConfigKey("httpsEndpointUrl", _("endpoint URL"), "url"),
        ConfigKey("signingSecret", _("signing secret (whsec_…)")),
    ),
    Kind.SALESFORCE: (
        ConfigKey("objectIdentifier", _("organization id (00D…)")),
        ConfigKey("baseUrl", _("Web-to-Lead base URL"), "url"),
    ),
    Kind.DYNAMICS365: (
        ConfigKey("instanceUrl", _("instance URL"), "url"),
        ConfigKey("directoryId", _("directory (tenant) id")),
        ConfigKey("applicationId", _("application (client) id")),
        ConfigKey("applicationKey", _("application key (client secret)")),
        ConfigKey("alternateKey", _("alternate key attribute")),
        ConfigKey("authorityUrl", _("authority URL"), "url"),
    ),
    Kind.MARKETO: (
        ConfigKey("munchkinId", _("Munchkin id")),
        ConfigKey("clientId", _("client id")),
        ConfigKey("clientSecret", _("client secret")),
        ConfigKey("baseUrl", _("REST base URL"), "url"),
        ConfigKey("serverId", _("server id (kept for reference)")),
        ConfigKey("formId", _("form id (kept for reference)")),
    ),
    Kind.AZURE_TABLE: (
        ConfigKey("storageAccountConnectionString", _("storage account connection string")),
        ConfigKey("tableName", _("table name (default MarketplaceLeads)")),
    ),
}
COMMON_CONFIG_KEYS: tuple[ConfigKey, ...] = (
    ConfigKey("contactEmail", _("contact emails (comma or semicolon separated)"), "emails"),
)

CONFIG_FIELD_PREFIX = "config_"
SALESFORCE_ORG_ID = re.compile(r"^00D[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?$")
MARKETO_MUNCHKIN_ID = re.compile(r"^[0-9]{3}-[A-Z]{3}-[0-9]{3}$")
# The limits a form may leave empty; apply_kind_defaults() fills them from the kind.
LIMIT_FIELDS = ("rate_limit", "rate_period_seconds", "batch_size")


def config_keys_for(kind: str) -> tuple[ConfigKey, ...]:
    return (*CONFIG_KEYS.get(kind, ()), *COMMON_CONFIG_KEYS) if kind in CONFIG_KEYS else ()


def config_field_names(kind: str) -> list[str]:
    """The form field names of a kind's configuration keys, in display order."""
    return [CONFIG_FIELD_PREFIX + key.name for key in config_keys_for(kind)]


def _guard_policy() -> ssrf.GuardPolicy:
    return ssrf.GuardPolicy(
        allow_private_targets=settings.CRM_ALLOW_PRIVATE_TARGETS,
        require_https=not settings.DEBUG,
    )


def _refused(exc: ssrf.TargetRefused) -> ValidationError:
    return ValidationError(
        _("This address cannot receive leads: %(reason)s."), params={"reason": exc}, code="ssrf"
    )


def secret_field(label, *, autocomplete: str = "off", **kwargs) -> forms.CharField:
    """A write-only secret: it renders empty, and it is not required, as a blank keeps the
    stored value; the form asks for a first one. The inbound and Partner Center forms
    use it too."""
    return forms.CharField(
        label=label,
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": autocomplete}),
        **kwargs,
    )


def connection_string_clean(value: str | None) -> str:
    """A storage account connection string whose every endpoint (named or implied) meets
    the URL checks; blank stays blank. Errors never quote the string (it holds the key).
    The inbound Azure Table source form checks its string here too."""
    value = (value or "").strip()
    if not value:
        return value
    try:
        azure_table.check_connection_string(value, _guard_policy())
    except ssrf.TargetRefused as exc:
        raise _refused(exc) from exc
    except ConfigurationError:
        raise ValidationError(
            _(
                "This is not a storage account connection string. Copy it from the "
                "Azure portal: Storage account → Access keys → Connection string."
            ),
            code="invalid_connection_string",
        ) from None
    return value


class CrmTargetForm(forms.ModelForm):
    """Edits a CRM target; `config` is replaced by one field per key of the target's kind.

    The kind comes from the saved target, else from the submitted or initial `kind`. On
    a new target whose kind is not chosen yet, no configuration field is shown.
    """

    class Meta:
        model = CrmTarget
        fields = [
            "publisher",
            "kind",
            "name",
            "scope",
            "listings",
            "is_active",
            "rate_limit",
            "rate_period_seconds",
            "batch_size",
            "extra_fields",
            "erasure_mode",
        ]

    def __init__(self, *args, kind: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind or self._chosen_kind()
        self.stored_config: dict = dict(self.instance.config or {}) if self.instance.pk else {}
        if self.instance.pk and "kind" in self.fields:
            # Another kind means other keys: make a new target instead.
            self.fields["kind"].disabled = True
        for name in LIMIT_FIELDS:
            if name in self.fields:
                self.fields[name].required = False
                self.fields[name].help_text = _("Leave empty for the default of the kind.")
        for key in config_keys_for(self.kind):
            self.fields[CONFIG_FIELD_PREFIX + key.name] = self._config_field(key)
        if "erasure_mode" in self.fields:  # left out, it keeps its value (notify when new)
            self.fields["erasure_mode"].required = False

    @property
    def config_field_names(self) -> list[str]:
        return config_field_names(self.kind)

    def _chosen_kind(self) -> str:
        if self.instance.pk:
            return self.instance.kind
        if self.is_bound:
            kind = self.data.get(self.add_prefix("kind"), "")
        else:
            kind = self.initial.get("kind") or self.instance.kind or ""
        return kind if kind in CONFIG_KEYS else ""

    def _config_field(self, key: ConfigKey) -> forms.Field:
        profile = CrmTarget.PROFILES[self.kind]
        label = key.label
        if key.name in profile.secret_keys:
            is_set = bool(self.stored_config.get(key.name))
            return secret_field(label, help_text=_("set") if is_set else _("not set"))
        required = key.name in profile.required_keys
        initial = self.stored_config.get(key.name)
        if key.type == "emails":
            if isinstance(initial, list | tuple):
                initial = ", ".join(initial)
            return forms.CharField(label=label, required=required, initial=initial)
        if key.type == "url":
            return forms.URLField(
                label=label, required=required, initial=initial, assume_scheme="https"
            )
        return forms.CharField(label=label, required=required, initial=initial)

    # --- Validation per key ----------------------------------------------------------

    def _clean_url(self, name: str) -> str:
        value = self.cleaned_data.get(name, "")
        if not value:
            return value
        scheme = urlsplit(value).scheme.lower()
        if not (scheme == "https" or (scheme == "http" and settings.DEBUG)):
            raise ValidationError(_("Enter an https:// URL."), code="https_required")
        # The SSRF guard at save time too; it runs again at every connect.
        try:
            ssrf.check_url(value, _guard_policy())
        except ssrf.TargetRefused as exc:
            raise _refused(exc) from exc
        except ssrf.HostNotFound:
            pass  # DNS may recover; the connect-time check decides then
        return value

    def clean_config_storageAccountConnectionString(self):
        """Blank keeps the stored (already checked) value."""
        return connection_string_clean(
            self.cleaned_data.get("config_storageAccountConnectionString")
        )

    # The clean_<field>() hooks carry Partner Center's camelCase key names.
    def clean_config_httpsEndpointUrl(self):
        return self._clean_url("config_httpsEndpointUrl")

    def clean_config_baseUrl(self):
        return self._clean_url("config_baseUrl")

    def clean_config_instanceUrl(self):
        return self._clean_url("config_instanceUrl")

    def clean_config_authorityUrl(self):
        return self._clean_url("config_authorityUrl")

    def clean_config_objectIdentifier(self):
        value = self.cleaned_data.get("config_objectIdentifier", "").strip()
        if value and not SALESFORCE_ORG_ID.match(value):
            raise ValidationError(
                _("Enter the Salesforce organization id: 15 or 18 characters starting with 00D."),
                code="invalid_salesforce_org_id",
            )
        return value

    def clean_config_munchkinId(self):
        value = self.cleaned_data.get("config_munchkinId", "").strip().upper()
        if value and not MARKETO_MUNCHKIN_ID.match(value):
            raise ValidationError(
                _("Enter the Munchkin id like 123-ABC-456."), code="invalid_munchkin_id"
            )
        return value

    def clean_config_contactEmail(self):
        value = self.cleaned_data.get("config_contactEmail", "")
        emails = [part.strip() for part in re.split(r"[,;]", value or "") if part.strip()]
        invalid = []
        for email in emails:
            try:
                validate_email(email)
            except ValidationError:
                invalid.append(email)
        if invalid:
            raise ValidationError(
                _("These are not valid email addresses: %(emails)s"),
                code="invalid_contact_email",
                params={"emails": ", ".join(invalid)},
            )
        return emails

    # --- The whole form --------------------------------------------------------------

    def clean(self):
        cleaned_data = super().clean()
        self._check_listings_are_the_publishers(cleaned_data)
        if not self.kind:
            return cleaned_data
        self._check_erasure_mode(cleaned_data)
        config = self._merged_config()
        profile = CrmTarget.PROFILES[self.kind]
        for key in profile.secret_keys:
            field = CONFIG_FIELD_PREFIX + key
            if key in profile.required_keys and not config.get(key) and field not in self.errors:
                self.add_error(field, forms.Field.default_error_messages["required"])
        self._apply_limits(cleaned_data)
        if config != self.stored_config:
            # New settings are unproven until a test lead succeeds again.
            self.instance.verified_at = None
        self.instance.config = config
        return cleaned_data

    def _check_erasure_mode(self, cleaned_data: dict) -> None:
        if "erasure_mode" in self.fields and not cleaned_data.get("erasure_mode"):
            cleaned_data["erasure_mode"] = self.instance.erasure_mode or ErasureMode.NOTIFY
        if cleaned_data.get("erasure_mode") != ErasureMode.DELETE or self.kind in DELETING_KINDS:
            return
        if self.kind == CrmTarget.Kind.HTTPS:
            message = _("An HTTPS endpoint always gets a signed lead.erased event; choose notify.")
        else:
            message = _("Salesforce Web-to-Lead cannot delete a lead: erasures are notified.")
        self.add_error("erasure_mode", message)

    def _check_listings_are_the_publishers(self, cleaned_data: dict) -> None:
        publisher = cleaned_data.get("publisher", self.instance.publisher)
        foreign = [
            listing
            for listing in cleaned_data.get("listings") or ()
            if publisher is None or listing.publisher_id != publisher.pk
        ]
        if foreign and "listings" in self.fields:
            self.add_error(
                "listings",
                _("These listings are not the publisher's: %(listings)s")
                % {"listings": ", ".join(str(listing) for listing in foreign)},
            )

    def _merged_config(self) -> dict:
        """The stored config with the submitted keys applied; blank secrets keep theirs."""
        config = dict(self.stored_config)
        secret_keys = CrmTarget.PROFILES[self.kind].secret_keys
        for key in config_keys_for(self.kind):
            field = CONFIG_FIELD_PREFIX + key.name
            if field not in self.cleaned_data:
                continue  # invalid: the field's error stands
            value = self.cleaned_data[field]
            if key.name in secret_keys:
                if value:
                    config[key.name] = value
            elif value:
                config[key.name] = value
            else:
                config.pop(key.name, None)
        return config

    def _apply_limits(self, cleaned_data: dict) -> None:
        """Fill the limits left empty with the kind's defaults (CrmTarget.apply_kind_defaults)."""
        target = self.instance
        target.kind = self.kind
        present = [name for name in LIMIT_FIELDS if name in self.fields]
        for name in present:
            setattr(target, name, cleaned_data.get(name))
        target.apply_kind_defaults()
        for name in present:
            cleaned_data[name] = getattr(target, name)
