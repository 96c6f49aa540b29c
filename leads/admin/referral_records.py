"""Staff admin of the referral rows: what Partner Center said, and where our answers stand.

Read-only: Partner Center is the truth of a synced referral, and publishers answer from
the portal. The one action sends a failed answer again.
"""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from leads.admin.common import BOTH_LOCATIONS, BigTableAdminMixin, ReadOnlyAdminMixin
from leads.models import Referral
from leads.referrals import services


@admin.register(Referral)
class ReferralAdmin(BigTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "partner_center_id",
        "name",
        "publisher",
        "status",
        "substatus",
        "sync_state",
        "deal_value",
        "currency",
        "close_date",
        "pc_updated_at",
    )
    list_filter = ("status", "substatus", "sync_state")
    list_select_related = ("publisher",)
    search_fields = ("=partner_center_id", "=engagement_id", "name")
    raw_id_fields = ("lead", "changed_by")
    actions = ["push_again"]

    @admin.action(description=_("Send the failed answer again"), location=BOTH_LOCATIONS)
    def push_again(self, request, queryset):
        count = services.referrals_push_retry(
            referral_ids=list(queryset.values_list("pk", flat=True))
        )
        self.message_user(
            request,
            ngettext("%(count)d answer queued again.", "%(count)d answers queued again.", count)
            % {"count": count},
        )
