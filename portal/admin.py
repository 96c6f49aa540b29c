"""Staff admin for tenancy. Publisher is registered in leads/admin.py: creating one there
seeds its default scoring rules, which live in leads."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from portal.models import Membership


class MembershipInline(admin.TabularInline):
    """Who may act for a publisher; used on the publisher's page."""

    model = Membership
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)
    autocomplete_fields = ("user",)
    extra = 0
    verbose_name = _("member")
    verbose_name_plural = _("members")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "publisher", "role", "created_at")
    list_filter = ("role", "publisher")
    search_fields = ("user__username", "user__email", "publisher__name", "publisher__slug")
    autocomplete_fields = ("user", "publisher")
    list_select_related = ("user", "publisher")
    readonly_fields = ("created_at",)
    date_hierarchy = "created_at"
