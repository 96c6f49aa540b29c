"""Staff admin for leads and their activities: millions of rows, never fully counted."""

import json

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from leads.admin.common import BigTableAdminMixin, FixedOnceAddedMixin, RecentRowsInline
from leads.consent import services as consent_services
from leads.consent.policy import customer_text, policy_summary
from leads.lifecycle.services import leads_storefronts_refresh
from leads.models import (
    ConsentRecord,
    Lead,
    LeadActivity,
    LeadNote,
    LeadTransition,
)


class LeadActivityInline(RecentRowsInline):
    model = LeadActivity
    fields = ("occurred_at", "storefront", "action_code", "listing", "campaign", "is_test")
    show_change_link = True  # an activity has its own admin page
    verbose_name_plural = _("latest activities")
    select_related = ("listing", "campaign")


class LeadNoteInline(RecentRowsInline):
    """Members' notes, read-only: they are the publisher's, written in the portal."""

    model = LeadNote
    fields = ("created_at", "author", "body")
    verbose_name_plural = _("latest notes")
    select_related = ("author",)


class LeadTransitionInline(RecentRowsInline):
    model = LeadTransition
    fields = ("created_at", "from_status", "to_status", "changed_by", "reason")
    verbose_name_plural = _("latest status changes")
    select_related = ("changed_by",)


class ConsentRecordInline(RecentRowsInline):
    """The lead's consent evidence: append-only, read here, exported by data-rights work."""

    model = ConsentRecord
    fields = (
        "recorded_at",
        "is_granted",
        "basis",
        "reason",
        "listing",
        "activity",
        "policy_as_it_was",
        "recorded_by",
    )
    verbose_name_plural = _("latest consent evidence")
    select_related = ("listing", "activity", "recorded_by")

    @admin.display(description=_("policy as it was"))
    def policy_as_it_was(self, obj):
        if not obj.policy:
            return "-"
        quoted = customer_text(obj.policy)
        return format_html(
            "{}<br><code>{}</code>{}",
            policy_summary(obj.policy),
            json.dumps(obj.policy, sort_keys=True),
            format_html("<br><q>{}</q>", quoted) if quoted else "",
        )


# Shown under "History" and set only by the lifecycle and intake.
LEAD_HISTORY_FIELDS = (
    "qualified_at",
    "status_changed_at",
    "status_changed_by",
    "status_reason",
    "last_activity_at",
    "created_at",
    "updated_at",
    "all_activities_link",
)


# The publisher works the lead in the portal; staff read it (owner, step, merge).
LEAD_WORK_FIELDS = ("owner", "next_step", "next_step_due", "next_step_done_at", "merged_into")


@admin.register(Lead)
class LeadAdmin(FixedOnceAddedMixin, BigTableAdminMixin, admin.ModelAdmin):
    # crm/admin.py adds the Delivery inline: leads does not import crm (portal ← leads ← crm).
    list_display = (
        "email",
        "first_name",
        "last_name",
        "company",
        "publisher",
        "origin",
        "status",
        "score",
        "is_test",
        "created_at",
    )
    list_filter = ("publisher", "origin", "status", "is_test", "marketing_consent", "created_at")
    search_fields = ("=email_normalized", "^first_name", "^last_name", "^company")
    autocomplete_fields = ("publisher", "first_campaign", "latest_campaign")
    list_select_related = ("publisher",)
    fieldsets = (
        (
            None,
            {"fields": ("uuid", "publisher", "origin", "status", "score", "score_breakdown_table")},
        ),
        (
            _("Contact"),
            {
                "fields": (
                    "email",
                    "email_normalized",
                    "first_name",
                    "last_name",
                    "phone",
                    "country",
                    "company",
                    "title",
                    "marketing_consent",
                    "is_test",
                )
            },
        ),
        (_("Campaigns"), {"fields": ("first_campaign", "latest_campaign")}),
        (_("Working the lead"), {"fields": LEAD_WORK_FIELDS}),
        (_("History"), {"fields": LEAD_HISTORY_FIELDS}),
    )
    # Score and status move through scoring and the lifecycle, which record why.
    readonly_fields = (
        "uuid",
        "email_normalized",
        "score",
        "score_breakdown_table",
        "status",
        *LEAD_WORK_FIELDS,
        *LEAD_HISTORY_FIELDS,
    )
    # One person per publisher per origin: moving a lead would merge people.
    fixed_once_added = ("publisher", "origin")
    inlines = [LeadTransitionInline, LeadNoteInline, LeadActivityInline, ConsentRecordInline]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if "marketing_consent" in form.changed_data:
            # A consent staff state is evidenced like any other (basis "staff").
            consent_services.lead_consent_set_by_staff(
                lead=obj, is_granted=obj.marketing_consent, by=request.user
            )

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if "@" in term and " " not in term:
            # An email: match the consolidation key exactly, which an index can serve.
            return queryset.filter(email_normalized=Lead.normalize_email(term)), False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description=_("score breakdown"))
    def score_breakdown_table(self, obj):
        # Rule names and values may come from intake: format_html escapes every item.
        items = obj.score_breakdown or []
        if not items:
            return "-"
        return format_html(
            "<ul>{}</ul>",
            format_html_join("", "<li>{}: {}</li>", (_breakdown_row(item) for item in items)),
        )

    @admin.display(description=_("activities"))
    def all_activities_link(self, obj):
        if obj.pk is None:
            return "-"
        url = reverse("admin:leads_leadactivity_changelist")
        return format_html(
            '<a href="{}?{}">{}</a>',
            url,
            urlencode({"lead__id__exact": obj.pk}),
            gettext("All activities of this lead"),
        )


def _breakdown_row(item) -> tuple[str, str]:
    """(label, points) of one score breakdown entry, whatever keys the scorer used."""
    if isinstance(item, dict):
        label = item.get("rule") or item.get("name") or item.get("label") or ""
        points = item.get("points", "")
        return str(label), str(points)
    return str(item), ""


# --- Activities ------------------------------------------------------------------------


class ActionCodeFilter(admin.SimpleListFilter):
    """The known action codes, without the DISTINCT scan a plain field filter would run."""

    title = _("action code")
    parameter_name = "action_code"

    def lookups(self, request, model_admin):
        return LeadActivity.ActionCode.choices

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(action_code=self.value())
        return queryset


@admin.register(LeadActivity)
class LeadActivityAdmin(FixedOnceAddedMixin, BigTableAdminMixin, admin.ModelAdmin):
    list_display = (
        "occurred_at",
        "lead",
        "listing",
        "storefront",
        "action_code",
        "is_test",
        "external_id",
    )
    list_filter = ("storefront", ActionCodeFilter, "is_test", "occurred_at")
    search_fields = ("=external_id", "=lead__email_normalized")
    raw_id_fields = ("lead",)
    autocomplete_fields = ("listing", "campaign")
    list_select_related = ("lead", "listing")
    exclude = ("raw_payload",)
    readonly_fields = ("raw_payload_pretty", "created_at")
    # What the storefront sent is evidence: it is shown, never rewritten.
    fixed_once_added = ("lead", "storefront", "external_id", "occurred_at")

    # An activity added or deleted here changes its lead's storefronts (Lead.storefronts).
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        leads_storefronts_refresh(lead_ids=[obj.lead_id])

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        leads_storefronts_refresh(lead_ids=[obj.lead_id])

    def delete_queryset(self, request, queryset):
        lead_ids = set(queryset.values_list("lead_id", flat=True))
        super().delete_queryset(request, queryset)
        leads_storefronts_refresh(lead_ids=lead_ids)

    @admin.display(description=_("raw payload"))
    def raw_payload_pretty(self, obj):
        text, truncated = pretty_json_excerpt(obj.raw_payload or {}, RAW_PAYLOAD_DISPLAY_LIMIT)
        if not truncated:
            return format_html("<pre>{}</pre>", text)
        note = gettext("Truncated: only the first %(size)s KiB are shown.") % {
            "size": RAW_PAYLOAD_DISPLAY_LIMIT // 1024
        }
        return format_html("<pre>{}</pre><p><strong>{}</strong></p>", text, note)


# Indentation grows with depth: a 10 KB body nested thousands deep would print as 50 MB.
RAW_PAYLOAD_DISPLAY_LIMIT = 16 * 1024


def pretty_json_excerpt(value, limit: int) -> tuple[str, bool]:
    """(text, truncated): value as indented JSON, cut at limit characters.

    The encoder yields its output piece by piece, so a payload that would print huge
    stops costing anything once the limit is reached.
    """
    encoder = json.JSONEncoder(indent=2, sort_keys=True, ensure_ascii=False)
    parts, size = [], 0
    try:
        for chunk in encoder.iterencode(value):
            parts.append(chunk)
            size += len(chunk)
            if size > limit:
                return "".join(parts)[:limit], True
    except RecursionError:
        # Deeper than Python's encoder can indent: the compact form, cut the same way.
        compact = json.dumps(value, ensure_ascii=False)
        return compact[:limit], len(compact) > limit
    return "".join(parts), False


# --- Scoring ---------------------------------------------------------------------------
