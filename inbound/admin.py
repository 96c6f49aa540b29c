"""Staff admin for inbound sources and items: every source and reject, with a retry action.

Sources are set up in the portal (or by commands); here staff read them and act through
the services. A source's `config` (an Azure Table connection string) and its token hashes
are never shown.
"""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from inbound import receive, table_sources
from inbound.models import InboundItem, InboundSource
from leads.admin.common import (
    BOTH_LOCATIONS,
    BigTableAdminMixin,
    ReadOnlyAdminMixin,
    count_reported,
    rows_apply,
)

# --- Sources ---------------------------------------------------------------------------

SOURCE_FIELDS = (
    "publisher",
    "kind",
    "listing",
    "paused",
    "connected_at",
    "last_received_at",
    "created_at",
    "updated_at",
)
# The Azure Table reader's fields (inbound.table); the connection string is not one.
TABLE_FIELDS = (
    "table_name",
    "read_from",
    "watermark",
    "last_read_at",
    "last_error",
    "last_error_at",
    "read_lease_until",
)


@admin.register(InboundSource)
class InboundSourceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "__str__",
        "publisher",
        "kind",
        "paused",
        "connected_at",
        "last_received_at",
        "last_read_at",
        "last_error_at",
    )
    list_filter = ("kind", "paused", "publisher")
    search_fields = ("publisher__name", "table_name", "listing__offer_id")
    list_select_related = ("publisher", "listing")
    fieldsets = (
        (None, {"fields": SOURCE_FIELDS}),
        (_("Azure Table"), {"fields": TABLE_FIELDS}),
    )
    readonly_fields = SOURCE_FIELDS + TABLE_FIELDS
    actions = ["read_now", "pause", "resume"]

    def has_operate_permission(self, request):
        # Read-only pages; acting on a source needs the right to change sources.
        return request.user.has_perm("inbound.change_inboundsource")

    @admin.action(
        description=_("Read the selected Azure Table sources now"),
        permissions=["operate"],
        location=BOTH_LOCATIONS,
    )
    def read_now(self, request, queryset):
        tables = queryset.filter(kind=InboundSource.Kind.AZURE_TABLE, paused=False)
        count = rows_apply(
            tables, lambda source: table_sources.table_source_read_now(source=source)
        )
        count_reported(
            request,
            ngettext("%(count)d read queued.", "%(count)d reads queued.", count),
            count,
        )

    @admin.action(
        description=_("Pause the selected sources"),
        permissions=["operate"],
        location=BOTH_LOCATIONS,
    )
    def pause(self, request, queryset):
        count = rows_apply(queryset, lambda source: table_sources.table_source_pause(source=source))
        count_reported(
            request, ngettext("%(count)d source paused.", "%(count)d sources paused.", count), count
        )

    @admin.action(
        description=_("Resume the selected sources"),
        permissions=["operate"],
        location=BOTH_LOCATIONS,
    )
    def resume(self, request, queryset):
        count = rows_apply(
            queryset, lambda source: table_sources.table_source_resume(source=source)
        )
        count_reported(
            request,
            ngettext("%(count)d source resumed.", "%(count)d sources resumed.", count),
            count,
        )


# --- Items -----------------------------------------------------------------------------

ITEM_FIELDS = (
    "source",
    "publisher",
    "received_at",
    "status",
    "reason_code",
    "reason",
    "attempts",
    "processed_at",
    "is_test",
    "activity",
    "dedupe_key",
    "body",
)


@admin.register(InboundItem)
class InboundItemAdmin(ReadOnlyAdminMixin, BigTableAdminMixin, admin.ModelAdmin):
    """What Partner Center handed over, as received: staff read it and retry rejects."""

    list_display = (
        "received_at",
        "status",
        "reason_code",
        "source",
        "publisher",
        "is_test",
        "attempts",
    )
    list_filter = ("status", "source__kind", "reason_code", "is_test", "publisher")
    search_fields = ("=dedupe_key",)
    list_select_related = ("source", "source__listing", "publisher")
    raw_id_fields = ("activity",)
    fields = ITEM_FIELDS
    readonly_fields = ITEM_FIELDS
    actions = ["retry"]

    def has_operate_permission(self, request):
        return request.user.has_perm("inbound.change_inbounditem")

    @admin.action(
        description=_("Process the selected rejected or waiting items again"),
        permissions=["operate"],
        location=BOTH_LOCATIONS,
    )
    def retry(self, request, queryset):
        count = receive.inbound_items_retry(items=queryset)
        count_reported(
            request,
            ngettext("%(count)d item queued again.", "%(count)d items queued again.", count),
            count,
        )
