"""Staff admin for publishers' sending identities: read-only (the publisher's owners set
them in the portal); an action re-checks their DNS through leads.sending.services. The
DKIM private key is never shown."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from leads.models import SendingIdentity
from leads.sending import services


@admin.register(SendingIdentity)
class SendingIdentityAdmin(admin.ModelAdmin):
    list_display = ("from_email", "publisher", "status", "checked_at", "verified_at")
    list_filter = ("status",)
    list_select_related = ("publisher",)
    search_fields = ("from_email", "domain", "publisher__name")
    fields = (
        "publisher",
        "from_email",
        "domain",
        "dkim_selector",
        "dkim_public_key",
        "status",
        "checked_at",
        "verified_at",
        "check_results",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    actions = ("check_dns",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Check the DNS records now"), permissions=["view"])
    def check_dns(self, request, queryset):
        checked = [services.identity_check(identity=row) for row in queryset]
        verified = sum(1 for row in checked if row.is_verified)
        self.message_user(
            request,
            ngettext(
                "%(count)d identity checked, %(verified)d verified.",
                "%(count)d identities checked, %(verified)d verified.",
                len(checked),
            )
            % {"count": len(checked), "verified": verified},
            messages.SUCCESS if verified == len(checked) else messages.WARNING,
        )
