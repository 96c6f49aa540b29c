"""Staff admin of the Partner Center connections: the sync's state, pause, resume, sync now.

The client secret and the password are never displayed, not even masked: owners set them
on the portal's connection page.
"""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from crm.models import ReferralConnection
from crm.referrals import services
from leads.admin.common import rows_action


@admin.register(ReferralConnection)
class ReferralConnectionAdmin(admin.ModelAdmin):
    list_display = (
        "publisher",
        "listing",
        "is_active",
        "last_synced_at",
        "watermark",
        "last_error",
    )
    list_filter = ("is_active",)
    list_select_related = ("publisher", "listing")
    search_fields = ("publisher__name", "client_id", "username")
    raw_id_fields = ("publisher", "listing")
    exclude = ("secrets",)
    readonly_fields = (
        "last_synced_at",
        "watermark",
        "last_error",
        "last_error_at",
        "last_counts",
        "sync_lease_until",
        "next_sync_at",
    )
    actions = ["pause", "resume", "sync_now"]

    def has_add_permission(self, request):
        return False  # the secrets are set by the publisher's owner, in the portal

    pause = rows_action(
        lambda connection: services.referral_connection_pause(connection=connection),
        description=_("Pause the sync"),
        done=lambda count: ngettext(
            "%(count)d connection paused.", "%(count)d connections paused.", count
        ),
    )
    resume = rows_action(
        lambda connection: services.referral_connection_resume(connection=connection),
        description=_("Resume the sync"),
        done=lambda count: ngettext(
            "%(count)d connection resumed.", "%(count)d connections resumed.", count
        ),
    )
    sync_now = rows_action(
        lambda connection: services.referral_connection_sync_request(connection=connection),
        description=_("Sync now"),
        done=lambda count: ngettext("%(count)d sync queued.", "%(count)d syncs queued.", count),
    )
