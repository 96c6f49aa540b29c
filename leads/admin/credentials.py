"""Staff admin for API keys, publisher tokens (created here, shown once) and rescoring runs."""

from collections.abc import Callable

from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from leads.admin.common import ReadOnlyAdminMixin, rows_action
from leads.intake import api_keys
from leads.models import (
    ApiKey,
    PublisherApiToken,
    RescoreRun,
)


class ShownOnceMixin:
    """Adding creates the credential through its service and shows the secret once, on a
    page of its own: it is never stored in plain text, nor kept in a message or session."""

    add_fields: tuple[str, ...] = ()

    def has_add_permission(self, request):
        return admin.ModelAdmin.has_add_permission(self, request)

    def get_fields(self, request, obj=None):
        return self.add_fields if obj is None else super().get_fields(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else super().get_readonly_fields(request, obj)

    def save_model(self, request, obj, form, change):
        created, secret = self.create(request, obj)
        obj.pk = created.pk
        obj.shown_once = secret

    def response_add(self, request, obj, post_url_continue=None):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "object": obj,
            "secret": obj.shown_once,
            "title": _("Copy the new credential now"),
        }
        return TemplateResponse(request, "admin/leads/shown_once.html", context)


class RevocableMixin:
    """A credential staff revoke, never delete: its rows stay, with `revoked_at` set."""

    actions = ["revoke"]

    def has_revoke_permission(self, request):
        # The form is read-only, yet revoking needs the right to change the credential.
        return admin.ModelAdmin.has_change_permission(self, request)


def revoke_action(*, description: str, revoke: Callable, revoked: Callable[[int], str]):
    """The admin action that revokes the selected rows not revoked yet, through `revoke`,
    and reports their count with the message `revoked(count)`."""
    return rows_action(
        revoke,
        description=description,
        done=revoked,
        permissions=["revoke"],
        rows=lambda queryset: queryset.filter(revoked_at__isnull=True),
    )


@admin.register(ApiKey)
class ApiKeyAdmin(ShownOnceMixin, RevocableMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Staff create keys here or with `manage.py create_storefront_key`; shown once."""

    add_fields = ("kind", "storefront", "name")

    def create(self, request, obj):
        return api_keys.api_key_create(kind=obj.kind, name=obj.name, storefront=obj.storefront)

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
    revoke = revoke_action(
        description=_("Revoke the selected keys"),
        revoke=lambda api_key: api_keys.api_key_revoke(api_key=api_key),
        revoked=lambda count: ngettext("%(count)d key revoked.", "%(count)d keys revoked.", count),
    )


@admin.register(PublisherApiToken)
class PublisherApiTokenAdmin(ShownOnceMixin, RevocableMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Publisher API tokens: staff (and later the portal's owners) create them, shown once."""

    add_fields = ("publisher", "name")

    def create(self, request, obj):
        return api_keys.publisher_token_create(
            publisher=obj.publisher, name=obj.name, created_by=request.user
        )

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
    # A token's page shows what its row in the list shows, nothing more.
    fields = list_display
    readonly_fields = fields
    date_hierarchy = "created_at"
    revoke = revoke_action(
        description=_("Revoke the selected tokens"),
        revoke=lambda api_token: api_keys.publisher_token_revoke(api_token=api_token),
        revoked=lambda count: ngettext(
            "%(count)d token revoked.", "%(count)d tokens revoked.", count
        ),
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
