"""Staff admin for retention: the runs and their figures, read-only, and the next run."""

from django.contrib import admin, messages
from django.utils import formats, timezone
from django.utils.translation import gettext

from leads.admin.common import ReadOnlyAdminMixin, ReadOnlyInlineMixin
from privacy.retention import selectors
from privacy.retention.models import RetentionRun, RetentionRunPublisher


class RetentionRunPublisherInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = RetentionRunPublisher
    fields = ("publisher", "months", "cutoff", "leads_erased", "batches", "error", "finished_at")
    readonly_fields = fields
    show_change_link = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("publisher")


@admin.register(RetentionRun)
class RetentionRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The task writes the runs; staff read them, and never delete the record of one."""

    list_display = (
        "started_at",
        "status",
        "publishers",
        "leads_erased",
        "batches",
        "errors",
        "resumes",
        "finished_at",
    )
    list_filter = ("status",)
    date_hierarchy = "started_at"
    inlines = [RetentionRunPublisherInline]

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        if request.method == "GET":
            messages.info(request, retention_summary())
        return super().changelist_view(request, extra_context)


def retention_summary() -> str:
    """One line for staff: when the next run starts, and what the last one did."""
    next_run = formats.date_format(
        timezone.localtime(selectors.retention_next_run_at(now=timezone.now())),
        "DATETIME_FORMAT",
    )
    last = selectors.retention_run_latest(finished=True)
    if last is None:
        return gettext("Next retention run: %(next)s. No run has finished yet.") % {
            "next": next_run
        }
    return gettext(
        "Next retention run: %(next)s. The last one (%(started)s) erased %(erased)d leads of "
        "%(publishers)d publishers in %(batches)d batches, with %(errors)d errors."
    ) % {
        "next": next_run,
        "started": formats.date_format(timezone.localtime(last.started_at), "DATETIME_FORMAT"),
        "erased": last.leads_erased,
        "publishers": last.publishers,
        "batches": last.batches,
        "errors": last.errors,
    }
