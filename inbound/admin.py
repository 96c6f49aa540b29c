"""Staff admin for inbound sources and the items they received, with a retry action.

No token, nor a token's hash, is shown anywhere: the hashes are not editable fields, and
neither list nor page names them. A body is shown pretty-printed and cut, as an
activity's raw payload is (leads.admin.leads.pretty_json_excerpt).
"""

import json

from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from inbound import receive, sources, table_sources
from inbound.models import InboundItem, InboundSource
from leads.admin.common import (
    BigTableAdminMixin,
    ReadOnlyAdminMixin,
    queryset_action,
    rows_action,
)
from leads.admin.leads import RAW_PAYLOAD_DISPLAY_LIMIT, pretty_json_excerpt


@admin.register(InboundSource)
class InboundSourceAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "publisher",
        "kind",
        "url_state",
        "connected_at",
        "last_received_at",
        "last_read_at",
        "lag",
        "last_error_at",
        "paused",
    )
    list_filter = ("kind", "paused", ("revoked_at", admin.EmptyFieldListFilter))
    list_select_related = ("publisher", "listing")
    search_fields = ("publisher__name", "listing__name", "listing__offer_id", "table_name")
    raw_id_fields = ("listing",)
    # The storage account's connection string is a secret: it is set where it is checked.
    exclude = ("config",)
    readonly_fields = (
        "publisher",
        "kind",
        "listing",
        "url_state",
        "previous_valid_until",
        "revoked_at",
        "connected_at",
        "last_received_at",
        # The Azure Table reader's (inbound.table): a new table or start date goes through
        # the portal, whose service starts the reading again.
        "table_name",
        "read_from",
        "watermark",
        "last_read_at",
        "lag",
        "last_error",
        "last_error_at",
        "read_lease_until",
        "limit_alerted_at",
    )
    actions = ["read_now", "pause", "resume"]

    def has_add_permission(self, request):
        # Sources are made where their secret is handed over: the portal or a command.
        return False

    @admin.display(description=_("URL"))
    def url_state(self, obj):
        if obj.kind != InboundSource.Kind.WEBHOOK:
            return "-"
        labels = {
            sources.UrlState.NONE: gettext("none"),
            sources.UrlState.ACTIVE: gettext("active"),
            sources.UrlState.ROTATED: gettext("rotated, previous in grace"),
            sources.UrlState.REVOKED: gettext("revoked"),
        }
        return labels[sources.webhook_url_state(obj)]

    @admin.display(description=_("lag"))
    def lag(self, obj):
        """How far behind now a table read is: the time since its watermark."""
        if obj.kind != InboundSource.Kind.AZURE_TABLE or obj.watermark is None:
            return "-"
        minutes = int((timezone.now() - obj.watermark).total_seconds() // 60)
        return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}

    # --- Actions (the Azure Table reader's: inbound.table_sources) ---------------------

    read_now = rows_action(
        lambda source: table_sources.table_source_read_now(source=source),
        description=_("Read the selected Azure Table sources now"),
        done=lambda count: ngettext("%(count)d read queued.", "%(count)d reads queued.", count),
        rows=lambda queryset: queryset.filter(kind=InboundSource.Kind.AZURE_TABLE, paused=False),
    )
    pause = rows_action(
        lambda source: table_sources.table_source_pause(source=source),
        description=_("Pause the selected sources"),
        done=lambda count: ngettext("%(count)d source paused.", "%(count)d sources paused.", count),
    )
    resume = rows_action(
        lambda source: table_sources.table_source_resume(source=source),
        description=_("Resume the selected sources"),
        done=lambda count: ngettext(
            "%(count)d source resumed.", "%(count)d sources resumed.", count
        ),
    )


@admin.register(InboundItem)
class InboundItemAdmin(ReadOnlyAdminMixin, BigTableAdminMixin, admin.ModelAdmin):
    """What the sources received, as a log: staff read it and retry items; receiving writes it."""

    list_display = (
        "id",
        "source",
        "publisher",
        "status",
        "reason_code",
        "is_test",
        "attempts",
        "received_at",
    )
    list_filter = ("status", "reason_code", "is_test", "source__kind", "received_at")
    list_select_related = ("source", "source__listing", "publisher")
    search_fields = ("=id", "=reason_code")
    actions = ["retry"]
    exclude = ("body",)
    readonly_fields = (
        "source",
        "publisher",
        "received_at",
        "dedupe_key",
        "status",
        "reason_code",
        "reason",
        "attempts",
        "processed_at",
        "is_test",
        "activity",
        "body_pretty",
    )

    def has_retry_permission(self, request):
        return admin.ModelAdmin.has_change_permission(self, request)

    @admin.display(description=_("body"))
    def body_pretty(self, obj):
        try:
            value = json.loads(obj.body)
        except (ValueError, RecursionError):
            text = obj.body[:RAW_PAYLOAD_DISPLAY_LIMIT]
            truncated = len(obj.body) > RAW_PAYLOAD_DISPLAY_LIMIT
        else:
            text, truncated = pretty_json_excerpt(value, RAW_PAYLOAD_DISPLAY_LIMIT)
        if not truncated:
            return format_html("<pre>{}</pre>", text)
        note = gettext("Truncated: only the first %(size)s KiB are shown.") % {
            "size": RAW_PAYLOAD_DISPLAY_LIMIT // 1024
        }
        return format_html("<pre>{}</pre><p><strong>{}</strong></p>", text, note)

    retry = queryset_action(
        lambda queryset: receive.inbound_items_retry(items=queryset),
        description=_("Retry the selected rejected or waiting items"),
        done=lambda count: ngettext(
            "%(count)d item queued again.", "%(count)d items queued again.", count
        ),
        permissions=["retry"],
        location=admin.ActionLocation.CHANGE_LIST,
    )
