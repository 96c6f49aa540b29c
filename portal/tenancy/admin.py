"""Staff admin for tenancy. Publisher is registered in leads/admin.py: creating one there
seeds its default scoring rules, which live in leads."""

from django.contrib import admin
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from portal import throttling
from portal.tenancy.models import Membership


class AutocompleteInline(admin.TabularInline):
    """An inline whose rows name their related row by autocomplete: no blank rows offered,
    and the related rows it shows come in the inline's own query, not one per row."""

    extra = 0

    def get_queryset(self, request):
        return super().get_queryset(request).select_related(*self.autocomplete_fields)


class MembershipInline(AutocompleteInline):
    """Who may act for a publisher; used on the publisher's page."""

    model = Membership
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)
    autocomplete_fields = ("user",)
    verbose_name = _("member")
    verbose_name_plural = _("members")


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "publisher", "role", "created_at")
    list_filter = ("role", "publisher")
    search_fields = ("user__username", "user__email", "publisher__name", "publisher__slug")
    autocomplete_fields = ("user", "publisher")
    list_select_related = ("user", "publisher")
    readonly_fields = ("created_at",)
    date_hierarchy = "created_at"


class UserAdmin(auth_admin.UserAdmin):
    """Django's user admin, with the staff's way to end a sign-in lock early."""

    actions = ["unlock_sign_in"]

    @admin.action(description=_("Unlock sign-in (clear failed attempts from every address)"))
    def unlock_sign_in(self, request, queryset):
        usernames = [user.get_username() for user in queryset]
        throttling.login_lockout_reset(usernames=usernames)
        self.message_user(
            request,
            ngettext(
                "Sign-in unlocked for %(count)d user.",
                "Sign-in unlocked for %(count)d users.",
                len(usernames),
            )
            % {"count": len(usernames)},
        )


admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), UserAdmin)
