"""Staff admin for the new-lead email: the log of emails sent to members (read-only).

Staff answer "I did not get the email" here: which emails a member got, when, with how
many leads, and what the mail server said. The leads themselves are not listed: the
email's lines live on LeadNotification, and the lead pages have the rest.
"""

from django.contrib import admin

from leads.admin.common import BigTableAdminMixin, ReadOnlyAdminMixin
from leads.models import NotificationEmail


@admin.register(NotificationEmail)
class NotificationEmailAdmin(ReadOnlyAdminMixin, BigTableAdminMixin, admin.ModelAdmin):
    list_display = (
        "membership",
        "publisher",
        "kind",
        "status",
        "lead_count",
        "attempts",
        "smtp_code",
        "created_at",
        "sent_at",
    )
    list_filter = ("status", "kind")
    list_select_related = ("membership__user", "membership__publisher", "publisher")
    search_fields = ("membership__user__email", "publisher__name", "publisher__slug")
    raw_id_fields = ("membership", "publisher")
    date_hierarchy = "created_at"

    def has_delete_permission(self, request, obj=None):
        return False
