"""The portal's Azure Table source form, and the filters of a source's items.

The connection string is write-only: the field renders empty, and left blank on an
existing source it keeps the stored string. It is checked as a CRM Azure Table target's
is (crm.forms.connection_string_clean: well formed, every endpoint past the SSRF guard).
"""

from datetime import UTC, datetime, time

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from crm.connectors import azure_table
from crm.connectors.base import ConfigurationError
from crm.forms import connection_string_clean, secret_field
from inbound.models import DEFAULT_TABLE_NAME, InboundItem, InboundSource


class TableSourceForm(forms.Form):
    connection_string = secret_field(
        _("Storage account connection string"),
        help_text=_(
            "The one you pasted in Partner Center (offer → Customer leads → Azure Table). "
            "Azure portal: Storage account → Security + networking → Access keys → "
            "Connection string. A shared access signature that may only read is enough."
        ),
    )
    table_name = forms.CharField(
        label=_("Table name"),
        max_length=63,
        initial=DEFAULT_TABLE_NAME,
        help_text=_("Partner Center writes to MarketplaceLeads."),
    )
    import_from = forms.DateField(
        label=_("Import from"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_(
            "Optional. Import the leads Partner Center wrote since this date (UTC); "
            "empty: from a few minutes before now, so that a validation lead sent just "
            "before is read too. Leads already imported are never imported twice."
        ),
    )

    def __init__(self, *args, source: InboundSource | None = None, **kwargs):
        self.source = source
        if source is not None:
            kwargs.setdefault("initial", {}).update(
                table_name=source.table_name,
                import_from=source.read_from.date() if source.read_from else None,
            )
        super().__init__(*args, **kwargs)
        if source is not None:
            self.fields["connection_string"].help_text = _(
                "Set and never shown again. Leave empty to keep it; paste a new one to replace it."
            )

    def clean_connection_string(self) -> str:
        value = connection_string_clean(self.cleaned_data.get("connection_string"))
        if not value and self.source is None:
            raise ValidationError(forms.Field.default_error_messages["required"], "required")
        return value

    def clean_table_name(self) -> str:
        value = self.cleaned_data["table_name"].strip()
        try:
            azure_table.settings_from({"storageAccountConnectionString": "-", "tableName": value})
        except ConfigurationError:
            raise ValidationError(
                _("A table name is 3 to 63 letters and digits, starting with a letter."),
                code="invalid_table_name",
            ) from None
        return value

    @property
    def read_from(self) -> datetime | None:
        """The import date as the moment its day starts (UTC); unchanged: the stored one."""
        if self.source is not None and "import_from" not in self.changed_data:
            return self.source.read_from
        day = self.cleaned_data.get("import_from")
        return datetime.combine(day, time.min, tzinfo=UTC) if day else None


class ItemFilterForm(forms.Form):
    """The filters of a source's items; `filters` is what the selector takes."""

    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("All")), *InboundItem.Status.choices],
    )
    order = forms.ChoiceField(
        label=_("Order"),
        required=False,
        choices=[("newest", _("Newest first")), ("oldest", _("Oldest first"))],
    )

    @property
    def filters(self) -> dict:
        data = self.cleaned_data if self.is_valid() else {}
        return {"status": data.get("status") or None, "order": data.get("order") or "newest"}
