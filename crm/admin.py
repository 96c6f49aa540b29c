"""Staff admin for CRM targets and the Delivery log.

A target's configuration is edited through CrmTargetForm, which never shows a secret
back. Deliveries are a read-only log. The Lead page gets its Delivery inline from here,
because leads does not import crm (STYLE: portal ← leads ← crm).
"""

import uuid

from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from crm import selectors, services, targets
from crm.forms import CONFIG_FIELD_PREFIX, CONFIG_KEYS, CrmTargetForm, config_field_names
from crm.models import CrmTarget, Delivery
from crm.referrals import admin as referrals_admin  # noqa: F401  (registers its admin)
from leads import admin as leads_admin
from leads.admin.common import (
    BigTableAdminMixin,
    ReadOnlyAdminMixin,
    RecentRowsInline,
    queryset_action,
    rows_action,
)
from leads.models import Lead


def field_seller_target_exists() -> bool:
    """True when an active global (Microsoft field-seller) target receives qualified leads."""
    return CrmTarget.objects.filter(publisher__isnull=True, is_active=True).exists()


# --- CRM targets -----------------------------------------------------------------------


def redeliver_refusal(*, delivery: Delivery) -> str | None:
    """Why "Redeliver" leaves a selected delivery alone, or None when it sends it again."""
    if delivery.status == Delivery.Status.SENDING:
        return gettext("it is being sent right now.")
    if delivery.event == Delivery.Event.TEST:
        return gettext("a test lead is sent again from its CRM target's page.")
    if delivery.event == Delivery.Event.ERASED:
        return gettext("an erasure notice is never sent again.")
    if not selectors.delivery_may_redeliver(delivery=delivery):
        return gettext("its lead was erased.")
    return None


class AudienceFilter(admin.SimpleListFilter):
    title = _("audience")
    parameter_name = "audience"

    def lookups(self, request, model_admin):
        return (
            ("field-seller", _("Microsoft field seller")),
            ("publisher", _("Publishers")),
        )

    def queryset(self, request, queryset):
        if self.value() == "field-seller":
            return queryset.filter(publisher__isnull=True)
        if self.value() == "publisher":
            return queryset.filter(publisher__isnull=False)
        return queryset


@admin.register(CrmTarget)
class CrmTargetAdmin(admin.ModelAdmin):
    form = CrmTargetForm
    list_display = (
        "name",
        "audience",
        "kind",
        "scope",
        "is_active",
        "is_verified",
        "rate_limit",
        "rate_period_seconds",
        "batch_size",
        "updated_at",
    )
    list_filter = (AudienceFilter, "kind", "is_active", "scope", "publisher")
    search_fields = ("name", "publisher__name")
    autocomplete_fields = ("publisher", "listings")
    list_select_related = ("publisher",)
    readonly_fields = ("verified_at", "created_at", "updated_at")
    date_hierarchy = "created_at"
    actions = ["send_test_lead", "pause", "resume"]

    def get_fieldsets(self, request, obj=None):
        kind = obj.kind if obj is not None else self._kind_from_request(request)
        if kind:
            configuration = {
                "fields": config_field_names(kind),
                "description": _("Secrets are never shown. Leave a secret blank to keep it."),
            }
        else:
            configuration = {"fields": (), "description": self._choose_kind_links()}
        return (
            (None, {"fields": ("publisher", "kind", "name", "is_active", "verified_at")}),
            (_("Configuration"), configuration),
            (_("Scope"), {"fields": ("scope", "listings")}),
            (_("Limits"), {"fields": ("rate_limit", "rate_period_seconds", "batch_size")}),
            (_("Payload"), {"fields": ("extra_fields",)}),
            (_("Erasure"), {"fields": ("erasure_mode",)}),
            (_("History"), {"fields": ("created_at", "updated_at")}),
        )

    def get_form(self, request, obj=None, change=False, **kwargs):
        # The configuration fields exist per form instance (they depend on the kind), so
        # the form class is built without them.
        fields = kwargs.get("fields") or flatten_fieldsets(self.get_fieldsets(request, obj))
        kwargs["fields"] = [f for f in fields if not f.startswith(CONFIG_FIELD_PREFIX)]
        return super().get_form(request, obj, change, **kwargs)

    @staticmethod
    def _kind_from_request(request) -> str:
        kind = request.POST.get("kind") or request.GET.get("kind") or ""
        return kind if kind in CONFIG_KEYS else ""

    @staticmethod
    def _choose_kind_links():
        links = format_html_join(
            " · ",
            '<a href="?{}">{}</a>',
            ((urlencode({"kind": kind.value}), kind.label) for kind in CrmTarget.Kind),
        )
        return format_html(
            "{} {}", gettext("Choose the kind to see its configuration fields:"), links
        )

    @admin.display(description=_("publisher"), ordering="publisher__name")
    def audience(self, obj):
        return obj.publisher if obj.publisher_id else gettext("Microsoft field seller")

    @admin.display(description=_("verified"), boolean=True, ordering="verified_at")
    def is_verified(self, obj):
        return obj.is_verified

    def changelist_view(self, request, extra_context=None):
        if request.method == "GET" and not field_seller_target_exists():
            messages.warning(
                request,
                gettext(
                    "No active Microsoft field-seller target: qualified leads are not reaching "
                    "Microsoft sellers. Add or resume a CRM target without a publisher."
                ),
            )
        return super().changelist_view(request, extra_context)

    # One test lead per target, queued on a worker: an unreachable CRM must not hold a web
    # process for its timeout. Each result shows on the target's deliveries.
    send_test_lead = rows_action(
        lambda target: services.target_test_start(target=target),
        description=_("Send a test lead"),
        done=lambda count: ngettext(
            "%(count)d test lead queued. Its result shows in the target's deliveries "
            "(event: test) within a few seconds.",
            "%(count)d test leads queued. Their results show in the targets' deliveries "
            "(event: test) within a few seconds.",
            count,
        ),
    )
    pause = queryset_action(
        lambda queryset: targets.targets_pause(targets=queryset),
        description=_("Pause the selected targets"),
        done=lambda count: ngettext("%(count)d target paused.", "%(count)d targets paused.", count),
    )
    resume = queryset_action(
        lambda queryset: targets.targets_resume(targets=queryset),
        description=_("Resume the selected targets"),
        done=lambda count: ngettext(
            "%(count)d target resumed.", "%(count)d targets resumed.", count
        ),
    )


# --- Deliveries ------------------------------------------------------------------------

DELIVERY_FIELDS = (
    "lead",
    "target",
    "event",
    "status",
    "erasure_mode",
    "outcome",
    "attempts",
    "next_attempt_at",
    "lease_until",
    "last_error",
    "last_status_code",
    "response_excerpt",
    "delivered_at",
    "idempotency_key",
    "created_at",
    "updated_at",
)


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdminMixin, BigTableAdminMixin, admin.ModelAdmin):
    """The outbox as a log: staff read it; workers and services write it."""

    list_display = (
        "created_at",
        "event",
        "status",
        "outcome",
        "lead",
        "target",
        "target__publisher",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "delivered_at",
    )
    list_filter = (
        "status",
        "event",
        "outcome",
        "target__kind",
        ("last_error", admin.EmptyFieldListFilter),
        "target",
        "target__publisher",
        "created_at",
    )
    actions = ["retry_now", "redeliver"]
    search_fields = ("=lead__email_normalized",)
    raw_id_fields = ("lead",)
    autocomplete_fields = ("target",)
    list_select_related = ("lead", "target", "target__publisher")
    fields = DELIVERY_FIELDS
    readonly_fields = DELIVERY_FIELDS

    def has_redeliver_permission(self, request):
        # The log is read-only; sending again needs the right to change deliveries.
        return request.user.has_perm("crm.change_delivery")

    retry_now = queryset_action(
        lambda queryset: services.deliveries_retry_now(deliveries=list(queryset)),
        description=_("Retry the selected pending deliveries now"),
        done=lambda count: ngettext(
            "%(count)d delivery is due now.", "%(count)d deliveries are due now.", count
        ),
        permissions=["redeliver"],
    )
    redeliver = rows_action(
        lambda delivery: services.delivery_redeliver(delivery=delivery),
        description=_("Redeliver the selected deliveries"),
        done=lambda count: ngettext(
            "%(count)d delivery will be sent again.",
            "%(count)d deliveries will be sent again.",
            count,
        ),
        permissions=["redeliver"],
        skip=lambda delivery: redeliver_refusal(delivery=delivery),
    )

    def get_actions(self, request, action_location=admin.ActionLocation.CHANGE_LIST):
        # Rows go when their lead or target is erased, not one by one.
        actions = super().get_actions(request, action_location=action_location)
        actions.pop("delete_selected", None)
        return actions

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        try:
            key = uuid.UUID(term)
        except ValueError:
            pass
        else:
            return queryset.filter(idempotency_key=key), False
        if "@" in term and " " not in term:
            return queryset.filter(lead__email_normalized=Lead.normalize_email(term)), False
        return super().get_search_results(request, queryset, search_term)


class DeliveryInline(RecentRowsInline):
    model = Delivery
    fields = (
        "created_at",
        "event",
        "status",
        "outcome",
        "target",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "delivered_at",
    )
    show_change_link = True  # a delivery has its own page in the log
    verbose_name_plural = _("latest deliveries")
    select_related = ("target",)


class LeadAdmin(leads_admin.LeadAdmin):
    inlines = [*leads_admin.LeadAdmin.inlines, DeliveryInline]


admin.site.unregister(Lead)
admin.site.register(Lead, LeadAdmin)
