"""Staff admin for API keys, publisher tokens and rescoring runs (read-only logs)."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from leads import services
from leads.admin.common import (
    BOTH_LOCATIONS,
    ReadOnlyAdminMixin,
)
from leads.models import (
    ApiKey,
    PublisherApiToken,
    RescoreRun,
)


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Keys are created with `manage.py create_storefront_key` (shown once); staff revoke."""

    list_display = (
        "name",
        "kind",
        "storefront",
        "prefix",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = ("kind", "storefront", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "^prefix")
    fields = ("name", "kind", "storefront", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    date_hierarchy = "created_at"
    actions = ["revoke"]

    def has_revoke_permission(self, request):
        # The form is read-only, yet revoking needs the right to change keys.
        return request.user.has_perm("leads.change_apikey")

    @admin.action(
        description=_("Revoke the selected keys"), permissions=["revoke"], location=BOTH_LOCATIONS
    )
    def revoke(self, request, queryset):
        count = 0
        for api_key in queryset.filter(revoked_at__isnull=True):
            services.api_key_revoke(api_key=api_key)
            count += 1
        messages.success(
            request,
            ngettext("%(count)d key revoked.", "%(count)d keys revoked.", count) % {"count": count},
        )


@admin.register(PublisherApiToken)
class PublisherApiTokenAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Publishers create their tokens in the portal; staff see and revoke them."""

    list_display = (
        "name",
        "publisher",
        "prefix",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), "publisher")
    search_fields = ("name", "^prefix", "publisher__name")
    autocomplete_fields = ("publisher",)
    list_select_related = ("publisher", "created_by")
    fields = (
        "name",
        "publisher",
        "prefix",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    readonly_fields = fields
    date_hierarchy = "created_at"
    actions = ["revoke"]

    def has_revoke_permission(self, request):
        return request.user.has_perm("leads.change_publisherapitoken")

    @admin.action(
        description=_("Revoke the selected tokens"),
        permissions=["revoke"],
        location=BOTH_LOCATIONS,
    )
    def revoke(self, request, queryset):
        count = 0
        for api_token in queryset.filter(revoked_at__isnull=True):
            services.publisher_token_revoke(api_token=api_token)
            count += 1
        messages.success(
            request,
            ngettext("%(count)d token revoked.", "%(count)d tokens revoked.", count)
            % {"count": count},
        )


@admin.register(RescoreRun)
class RescoreRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "publisher",
        "status",
        "processed",
        "total",
        "requalified",
        "requested_by",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "publisher")
    search_fields = ("publisher__name",)
    autocomplete_fields = ("publisher",)
    list_select_related = ("publisher", "requested_by")
    readonly_fields = (
        "publisher",
        "status",
        "total",
        "processed",
        "requalified",
        "error",
        "requested_by",
        "created_at",
        "started_at",
        "finished_at",
    )
    fields = readonly_fields
    date_hierarchy = "created_at"
