"""Staff admin for publishers, listings, campaigns and scoring rules."""

from django.contrib import admin, messages
from django.forms.models import BaseInlineFormSet
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from leads.admin.common import (
    BOTH_LOCATIONS,
    FixedOnceAddedMixin,
    count_reported,
    row_skipped,
    rows_action,
)
from leads.catalog import services as catalog_services
from leads.catalog.forms import CountryListField
from leads.catalog.storefronts import Storefront
from leads.models import (
    Campaign,
    CampaignListing,
    Listing,
    ScoringRule,
)
from leads.scoring import services as scoring_services
from portal.models import Publisher
from portal.tenancy.admin import AutocompleteInline, MembershipInline


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
        "retention_months",
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
            scoring_services.scoring_rules_seed_defaults(publisher=obj)
        elif "qualification_threshold" in form.changed_data:
            scoring_services.scoring_rules_changed(publisher=obj, requested_by=request.user)


# --- Listings --------------------------------------------------------------------------


@admin.register(Listing)
class ListingAdmin(FixedOnceAddedMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "publisher",
        "storefront",
        "listing_type",
        "offer_id",
        "status",
        "lead_management_enabled",
        "nurture_on_offer_consent",
        "published_at",
    )
    list_filter = (
        "storefront",
        "listing_type",
        "status",
        "lead_management_enabled",
        "nurture_on_offer_consent",
        "publisher",
    )
    search_fields = ("name", "^offer_id", "publisher__name")
    autocomplete_fields = ("publisher",)
    list_select_related = ("publisher",)
    # Status changes go through the publish gate (the actions), never a plain edit.
    readonly_fields = ("status", "published_at", "created_at", "updated_at")
    date_hierarchy = "created_at"
    actions = ["publish", "unpublish"]
    # Campaign listings reference (listing, storefront): the storefront is fixed.
    fixed_once_added = ("storefront",)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "consent_strict_countries":
            # Typed as in the portal: codes, and the EEA or EU shorthand.
            kwargs["form_class"] = CountryListField
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    @admin.action(
        description=_("Publish the selected listings"),
        permissions=["change"],
        location=BOTH_LOCATIONS,
    )
    def publish(self, request, queryset):
        published = 0
        for listing in queryset:
            if listing.is_published:
                row_skipped(request, listing, gettext("it was already published."))
                continue
            try:
                catalog_services.listing_publish(listing=listing)
            except catalog_services.ListingPublishRefused as refused:
                for blocker in refused.blockers:
                    messages.error(
                        request,
                        gettext("%(listing)s was not published: %(reason)s")
                        % {"listing": listing, "reason": blocker.message},
                    )
            else:
                published += 1
        if published:
            message = ngettext(
                "%(count)d listing published.", "%(count)d listings published.", published
            )
            count_reported(request, message, published)

    unpublish = rows_action(
        lambda listing: catalog_services.listing_unpublish(listing=listing),
        description=_("Unpublish the selected listings"),
        skip=lambda listing: None if listing.is_published else gettext("it is not published."),
        done=lambda count: ngettext(
            "%(count)d listing unpublished.", "%(count)d listings unpublished.", count
        ),
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


class CampaignListingInline(AutocompleteInline):
    model = CampaignListing
    formset = CampaignListingFormSet
    fields = ("listing",)
    autocomplete_fields = ("listing",)
    verbose_name = _("listing")
    verbose_name_plural = _("listings")


@admin.register(Campaign)
class CampaignAdmin(FixedOnceAddedMixin, admin.ModelAdmin):
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
    # Its listings are tied to the storefront (composite foreign keys).
    fixed_once_added = ("storefront",)


# --- Leads -----------------------------------------------------------------------------


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

    # Every change to a publisher's rules rescores its leads in the background.
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        scoring_services.scoring_rules_changed(publisher=obj.publisher, requested_by=request.user)

    def delete_model(self, request, obj):
        publisher = obj.publisher
        super().delete_model(request, obj)
        scoring_services.scoring_rules_changed(publisher=publisher, requested_by=request.user)

    def delete_queryset(self, request, queryset):
        publishers = {rule.publisher for rule in queryset.select_related("publisher")}
        super().delete_queryset(request, queryset)
        for publisher in publishers:
            scoring_services.scoring_rules_changed(publisher=publisher, requested_by=request.user)


# --- Credentials and background runs ------------------------------------------------------
