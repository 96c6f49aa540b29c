from django.contrib import admin

from portal.sso.models import SsoIdentity


@admin.register(SsoIdentity)
class SsoIdentityAdmin(admin.ModelAdmin):
    """Read-only: deleting a row unbinds the account, so the next sign-in matches by
    verified email again (for a user whose provider account was replaced)."""

    list_display = ["user", "issuer", "staff_by_group", "created_at"]
    list_filter = ["staff_by_group", "issuer"]
    search_fields = ["user__username", "user__email"]
    readonly_fields = ["user", "issuer", "subject", "staff_by_group", "created_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
