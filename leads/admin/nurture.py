"""Staff admin for nurture: sequences, steps, enrolments, the send log and suppressions.

Writes go through leads.nurture and leads.nurture.unsubscribe. The send log is read-only; an
interrupted send (its sender died mid-way, maybe delivered) can be released to go out
again. Suppressions hold only a keyed HMAC of the address; search by the address itself.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from leads.admin.common import BOTH_LOCATIONS, BigTableAdminMixin, rows_action
from leads.nurture import models as nurture_models
from leads.nurture import services as nurture
from leads.nurture import unsubscribe
from leads.nurture.render import template_errors


class NurtureStepForm(forms.ModelForm):
    """Placeholders only: the same check as the portal's sequence editor (S11)."""

    class Meta:
        model = nurture_models.NurtureStep
        fields = ("campaign", "position", "delay_minutes", "subject", "body", "stop_condition")

    def clean(self):
        cleaned = super().clean()
        for name in ("subject", "body"):
            for error in template_errors(cleaned.get(name) or ""):
                self.add_error(name, error)
        return cleaned


@admin.register(nurture_models.NurtureStep)
class NurtureStepAdmin(admin.ModelAdmin):
    form = NurtureStepForm
    list_display = ("campaign", "position", "delay", "subject", "stop_condition")
    list_select_related = ("campaign",)
    search_fields = ("subject", "campaign__name", "campaign__code")
    autocomplete_fields = ("campaign",)
    readonly_fields = ("created_at", "updated_at")

    @admin.display(description=_("delay"), ordering="delay_minutes")
    def delay(self, step):
        return step.delay_words


@admin.register(nurture_models.NurtureSequence)
class NurtureSequenceAdmin(admin.ModelAdmin):
    list_display = ("campaign", "status", "started_at", "started_by")
    list_filter = ("status",)
    list_select_related = ("campaign", "started_by")
    search_fields = ("campaign__name", "campaign__code")
    raw_id_fields = ("campaign",)
    readonly_fields = ("status", "started_at", "started_by", "updated_at")
    actions = ["start", "pause"]

    @admin.action(description=_("Start the selected sequences"), location=BOTH_LOCATIONS)
    def start(self, request, queryset):
        for sequence in queryset.select_related("campaign__publisher"):
            try:
                nurture.sequence_start(campaign=sequence.campaign, by=request.user)
            except ValidationError as error:
                messages.error(request, f"{sequence.campaign}: {' '.join(error.messages)}")

    @admin.action(description=_("Pause the selected sequences"), location=BOTH_LOCATIONS)
    def pause(self, request, queryset):
        for sequence in queryset.select_related("campaign"):
            nurture.sequence_pause(campaign=sequence.campaign)


class SentRowsMixin:
    """Rows the sending writes: staff read every field and act on them, never add one."""

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(nurture_models.Enrollment)
class EnrollmentAdmin(SentRowsMixin, BigTableAdminMixin, admin.ModelAdmin):
    list_display = (
        "lead",
        "campaign",
        "state",
        "stop_reason",
        "last_position",
        "next_send_at",
        "soft_failures",
        "enrolled_at",
    )
    list_filter = ("state", "stop_reason")
    list_select_related = ("lead", "campaign")
    raw_id_fields = ("lead", "campaign")
    search_fields = ("=lead__email_normalized", "campaign__code")
    actions = ["stop"]

    stop = rows_action(
        lambda enrollment: nurture.enrollment_stop_by_staff(enrollment=enrollment),
        description=_("Stop the selected enrolments"),
        done=lambda count: ngettext(
            "%(count)d enrolment stopped.", "%(count)d enrolments stopped.", count
        ),
        location=admin.ActionLocation.CHANGE_LIST,
        # Only active enrolments can stop, so only they are counted.
        rows=lambda queryset: queryset.filter(state=nurture_models.Enrollment.State.ACTIVE),
    )


class EmailEventInline(admin.TabularInline):
    """What happened to the message after it left (ESP events, tracked clicks): read only."""

    model = nurture_models.EmailEvent
    fields = readonly_fields = ("occurred_at", "kind", "esp", "url", "detail")
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(nurture_models.EmailSend)
class EmailSendAdmin(SentRowsMixin, BigTableAdminMixin, admin.ModelAdmin):
    list_display = ("enrollment", "step", "status", "attempts", "smtp_code", "created_at")
    list_filter = ("status",)
    list_select_related = ("enrollment", "step")
    raw_id_fields = ("enrollment", "step")
    inlines = [EmailEventInline]
    actions = ["release"]

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(
        description=_("Send the selected interrupted steps again"), permissions=["change"]
    )
    def release(self, request, queryset):
        for send in queryset.select_related("step"):
            try:
                nurture.email_send_release(send=send)
            except ValidationError as error:
                messages.error(request, f"{send}: {' '.join(error.messages)}")


class SuppressionForm(forms.ModelForm):
    """Staff type the address; only its hash is stored."""

    email = forms.EmailField(label=_("email"))

    class Meta:
        model = nurture_models.Suppression
        fields = ("publisher", "reason", "detail")


@admin.register(nurture_models.Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    list_display = ("email_hash", "publisher", "reason", "is_legacy", "created_at")
    list_filter = ("reason", "is_legacy")
    list_select_related = ("publisher",)
    autocomplete_fields = ("publisher",)
    search_fields = ("=email_hash",)
    search_help_text = _("Type the full email address.")

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("publisher", "email", "reason", "detail")
        return super().get_fields(request, obj)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = SuppressionForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return (
                "publisher",
                "email_hash",
                "is_legacy",
                "reason",
                "send",
                "detail",
                "created_at",
            )
        return ()

    def get_search_results(self, request, queryset, search_term):
        # The address is never stored: search by its hashes (every key, and legacy).
        if "@" in search_term:
            return queryset.filter(unsubscribe.suppression_match(search_term)), False
        return super().get_search_results(request, queryset, search_term)

    def save_model(self, request, obj, form, change):
        if change:
            return
        unsubscribe.suppression_add_email(
            publisher_id=obj.publisher_id,
            email=form.cleaned_data["email"],
            reason=obj.reason,
            detail=obj.detail or gettext("Added by staff."),
            by=request.user,
        )
        obj.pk = (
            nurture_models.Suppression.objects.filter(
                unsubscribe.suppression_match(form.cleaned_data["email"]),
                publisher_id=obj.publisher_id,
            )
            .values_list("pk", flat=True)
            .first()
        )
