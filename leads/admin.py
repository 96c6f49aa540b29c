"""Staff admin for publishers, listings, campaigns, leads and scoring (DESIGN §2).

Writes that have a service go through it: publishing, unpublishing, seeding rules.
Lead and activity tables reach millions of rows, so their changelists never count the
whole table, never filter on a big relation, and select every relation they show.
"""

import json

from django.contrib import admin, messages
from django.forms.models import BaseInlineFormSet
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from leads import services
from leads.models import (
    ApiKey,
    Campaign,
    CampaignListing,
    Lead,
    LeadActivity,
    LeadTransition,
    Listing,
    PublisherApiToken,
    RescoreRun,
    ScoringRule,
)
from leads.storefronts import Storefront
from portal.admin import MembershipInline
from portal.models import Publisher
from portal.paginators import CheapCountPaginator

# Actions offered on the changelist and on each object's page (Django 6.1).
BOTH_LOCATIONS = [admin.ActionLocation.CHANGE_LIST, admin.ActionLocation.CHANGE_FORM]


class RecentRowsFormSet(BaseInlineFormSet):
    """An inline of the most recent rows only: a lead may have thousands of them."""

    limit = 20

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The model's ordering is newest first, so the slice keeps the latest rows.
        self.queryset = self.queryset[: self.limit]


class ReadOnlyInlineMixin:
    """An inline that shows rows and never adds, changes or deletes one."""

    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- Publishers ------------------------------------------------------------------------


@admin.register(Publisher)
class PublisherAdmin(admin.ModelAdmin):
    """Registered here, not in portal: a new publisher gets its default scoring rules."""

    list_display = (
        "name",
        "slug",
        "publisher_id",
        "lead_contact_email",
        "co_sell_enrolled",
        "qualification_threshold",
        "created_at",
    )
    list_filter = ("co_sell_enrolled", "created_at")
    search_fields = ("name", "slug", "=publisher_id")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("created_at",)
    date_hierarchy = "created_at"
    inlines = [MembershipInline]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            # changeform_view runs in one transaction: the publisher and its rules or neither.
            services.scoring_rules_seed_defaults(publisher=obj)


# --- Listings --------------------------------------------------------------------------


@admin.register(Listing)
class ListingAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "publisher",
        "storefront",
        "listing_type",
        "offer_id",
        "status",
        "lead_management_enabled",
        "published_at",
    )
    list_filter = ("storefront", "listing_type", "status", "lead_management_enabled", "publisher")
    search_fields = ("name", "^offer_id", "publisher__name")
    autocomplete_fields = ("publisher",)
    list_select_related = ("publisher",)
    # Status changes go through the publish gate (the actions), never a plain edit.
    readonly_fields = ("status", "published_at", "created_at", "updated_at")
    date_hierarchy = "created_at"
    actions = ["publish", "unpublish"]

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        if obj is not None:
            # Campaign listings reference (listing, storefront): the storefront is fixed.
            return ("storefront", *fields)
        return fields

    @admin.action(
        description=_("Publish the selected listings"),
        permissions=["change"],
        location=BOTH_LOCATIONS,
    )
    def publish(self, request, queryset):
        published = 0
        for listing in queryset:
            try:
                services.listing_publish(listing=listing)
            except services.ListingPublishRefused as refused:
                for blocker in refused.blockers:
                    messages.error(
                        request,
                        gettext("%(listing)s was not published: %(reason)s")
                        % {"listing": listing, "reason": blocker.message},
                    )
            else:
                published += 1
        if published:
            messages.success(
                request,
                ngettext("%(count)d listing published.", "%(count)d listings published.", published)
                % {"count": published},
            )

    @admin.action(
        description=_("Unpublish the selected listings"),
        permissions=["change"],
        location=BOTH_LOCATIONS,
    )
    def unpublish(self, request, queryset):
        count = 0
        for listing in queryset:
            services.listing_unpublish(listing=listing)
            count += 1
        messages.success(
            request,
            ngettext("%(count)d listing unpublished.", "%(count)d listings unpublished.", count)
            % {"count": count},
        )


# --- Campaigns -------------------------------------------------------------------------


class CampaignListingFormSet(BaseInlineFormSet):
    """Each listing must be the campaign's publisher's and on the campaign's storefront."""

    def clean(self):
        super().clean()
        campaign = self.instance
        for form in self.forms:
            listing = getattr(form, "cleaned_data", {}).get("listing")
            if listing is None or self._should_delete_form(form):
                continue
            if campaign.publisher_id and listing.publisher_id != campaign.publisher_id:
                form.add_error(
                    "listing",
                    gettext("%(listing)s belongs to another publisher.") % {"listing": listing},
                )
            elif campaign.storefront and listing.storefront != campaign.storefront:
                form.add_error(
                    "listing",
                    gettext(
                        "%(listing)s is on %(listing_storefront)s; this campaign runs on "
                        "%(campaign_storefront)s."
                    )
                    % {
                        "listing": listing.name,
                        "listing_storefront": Storefront(listing.storefront).label,
                        "campaign_storefront": Storefront(campaign.storefront).label,
                    },
                )

    def save_new(self, form, commit=True):
        # The composite foreign keys need the storefront; on "add" the model's clean()
        # cannot take it from a campaign that was not saved yet.
        form.instance.storefront = self.instance.storefront
        return super().save_new(form, commit=commit)


class CampaignListingInline(admin.TabularInline):
    model = CampaignListing
    formset = CampaignListingFormSet
    fields = ("listing",)
    autocomplete_fields = ("listing",)
    extra = 0
    verbose_name = _("listing")
    verbose_name_plural = _("listings")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("listing")


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "publisher",
        "storefront",
        "kind",
        "code",
        "status",
        "starts_on",
        "ends_on",
        "goal_qualified_leads",
    )
    list_filter = ("storefront", "kind", "status", "publisher", "starts_on")
    search_fields = ("name", "^code", "publisher__name")
    autocomplete_fields = ("publisher",)
    list_select_related = ("publisher",)
    # `kind` is a generated column: the database derives it from the storefront.
    readonly_fields = ("kind", "created_at")
    date_hierarchy = "starts_on"
    inlines = [CampaignListingInline]

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        if obj is not None:
            # Its listings are tied to the storefront (composite foreign keys).
            return ("storefront", *fields)
        return fields


# --- Leads -----------------------------------------------------------------------------


class LeadActivityInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = LeadActivity
    formset = RecentRowsFormSet
    fields = ("occurred_at", "storefront", "action_code", "listing", "campaign", "is_test")
    readonly_fields = fields
    verbose_name_plural = _("latest activities")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("listing", "campaign")


class LeadTransitionInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = LeadTransition
    formset = RecentRowsFormSet
    fields = ("created_at", "from_status", "to_status", "changed_by", "reason")
    readonly_fields = fields
    show_change_link = False
    verbose_name_plural = _("latest status changes")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("changed_by")


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
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
    show_full_result_count = False
    paginator = CheapCountPaginator
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
        (
            _("History"),
            {
                "fields": (
                    "qualified_at",
                    "status_changed_at",
                    "status_changed_by",
                    "status_reason",
                    "last_activity_at",
                    "created_at",
                    "updated_at",
                    "all_activities_link",
                )
            },
        ),
    )
    # Score and status move through scoring and the lifecycle, which record why.
    readonly_fields = (
        "uuid",
        "email_normalized",
        "score",
        "score_breakdown_table",
        "status",
        "qualified_at",
        "status_changed_at",
        "status_changed_by",
        "status_reason",
        "last_activity_at",
        "created_at",
        "updated_at",
        "all_activities_link",
    )
    inlines = [LeadTransitionInline, LeadActivityInline]

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        if obj is not None:
            # One person per publisher per origin: moving a lead would merge people.
            return ("publisher", "origin", *fields)
        return fields

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
class LeadActivityAdmin(admin.ModelAdmin):
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
    show_full_result_count = False
    paginator = CheapCountPaginator
    exclude = ("raw_payload",)
    readonly_fields = ("raw_payload_pretty", "created_at")

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        if obj is not None:
            # What the storefront sent is evidence: it is shown, never rewritten.
            return ("lead", "storefront", "external_id", "occurred_at", *fields)
        return fields

    @admin.display(description=_("raw payload"))
    def raw_payload_pretty(self, obj):
        payload = json.dumps(obj.raw_payload or {}, indent=2, sort_keys=True, ensure_ascii=False)
        return format_html("<pre>{}</pre>", payload)


# --- Scoring ---------------------------------------------------------------------------


@admin.register(ScoringRule)
class ScoringRuleAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "publisher",
        "condition",
        "value",
        "listing",
        "points",
        "is_active",
        "position",
    )
    list_filter = ("condition", "is_active", "publisher")
    search_fields = ("name", "value", "publisher__name")
    autocomplete_fields = ("publisher", "listing")
    list_select_related = ("publisher", "listing")
    readonly_fields = ("created_at", "updated_at")
    date_hierarchy = "created_at"


# --- Credentials and background runs ------------------------------------------------------


class ReadOnlyAdminMixin:
    """A log or a credential that staff read; services and commands write it."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Keys are created with `manage.py create_storefront_key` (shown once); staff revoke."""

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
    actions = ["revoke"]

    def has_revoke_permission(self, request):
        # The form is read-only, yet revoking needs the right to change keys.
        return request.user.has_perm("leads.change_apikey")

    @admin.action(
        description=_("Revoke the selected keys"), permissions=["revoke"], location=BOTH_LOCATIONS
    )
    def revoke(self, request, queryset):
        count = 0
        for api_key in queryset.filter(revoked_at__isnull=True):
            services.api_key_revoke(api_key=api_key)
            count += 1
        messages.success(
            request,
            ngettext("%(count)d key revoked.", "%(count)d keys revoked.", count) % {"count": count},
        )


@admin.register(PublisherApiToken)
class PublisherApiTokenAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Publishers create their tokens in the portal; staff see and revoke them."""

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
    fields = (
        "name",
        "publisher",
        "prefix",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    readonly_fields = fields
    date_hierarchy = "created_at"
    actions = ["revoke"]

    def has_revoke_permission(self, request):
        return request.user.has_perm("leads.change_publisherapitoken")

    @admin.action(
        description=_("Revoke the selected tokens"),
        permissions=["revoke"],
        location=BOTH_LOCATIONS,
    )
    def revoke(self, request, queryset):
        count = 0
        for api_token in queryset.filter(revoked_at__isnull=True):
            services.publisher_token_revoke(api_token=api_token)
            count += 1
        messages.success(
            request,
            ngettext("%(count)d token revoked.", "%(count)d tokens revoked.", count)
            % {"count": count},
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
