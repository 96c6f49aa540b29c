"""Staff's side of data rights: find, export and erase a person across publishers (the
requests publishers forward), the erasure records, and the access log. Logs are read-only."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from portal.models import Publisher
from privacy import selectors, services
from privacy.commands import export_json
from privacy.forms import PersonEraseForm, PersonFindForm
from privacy.models import AccessLogEntry, ErasureRecord
from privacy.views import person_context

SOURCE = AccessLogEntry.Source.ADMIN


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AccessLogEntry)
class AccessLogEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "username", "action", "source", "publisher", "object_type"]
    list_filter = ["action", "source"]
    search_fields = ["username", "object_type"]
    list_select_related = ["publisher"]
    date_hierarchy = "created_at"


@admin.register(ErasureRecord)
class ErasureRecordAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "uuid", "publisher", "requested_by_name", "source", "lead_count"]
    list_filter = ["source"]
    list_select_related = ["publisher"]
    readonly_fields = ["outcomes"]
    change_list_template = "admin/privacy/erasurerecord/change_list.html"

    @admin.display(description=gettext_lazy("leads"))
    def lead_count(self, record):
        return len(record.lead_ids)

    @admin.display(description=gettext_lazy("recipients' outcomes"))
    def outcomes(self, record):
        rows = selectors.erasure_outcomes(record=record)
        return (
            "; ".join(
                f"{r['target_name']} ({r['kind']}): {r['status']} {r.get('outcome', '')}".strip()
                for r in rows
            )
            or "—"
        )

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("person/", view(self.person_find), name="privacy_person_find"),
            path("person/export/", view(self.person_export), name="privacy_person_export"),
            path("person/erase/", view(self.person_erase), name="privacy_person_erase"),
            *super().get_urls(),
        ]

    def _publisher(self, request) -> Publisher | None:
        slug = request.GET.get("publisher") or request.POST.get("publisher")
        return Publisher.objects.filter(slug=slug).first() if slug else None

    def _context(self, request, **extra) -> dict:
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Find a person"),
            "publishers": Publisher.objects.order_by("name").values("slug", "name"),
            **extra,
        }

    def person_find(self, request):
        form = PersonFindForm(request.GET or None)
        publisher = self._publisher(request)
        context = self._context(request, form=form, publisher=publisher)
        if form.is_valid():
            records = selectors.person_records(
                email=form.cleaned_data["email"], publisher=publisher
            )
            services.person_access_record(
                records=records, user=request.user, source=SOURCE, action=AccessLogEntry.Action.FIND
            )
            context |= person_context(records)
            context["erasures"] = selectors.erasures_for_address(
                email=form.cleaned_data["email"], publisher=publisher
            )
        return TemplateResponse(request, "admin/privacy/person.html", context)

    def person_export(self, request):
        form = PersonFindForm(request.POST or None)
        if request.method != "POST" or not form.is_valid():
            return redirect("admin:privacy_person_find")
        records = selectors.person_records(
            email=form.cleaned_data["email"], publisher=self._publisher(request)
        )
        services.person_access_record(
            records=records, user=request.user, source=SOURCE, action=AccessLogEntry.Action.EXPORT
        )
        response = HttpResponse(
            export_json(selectors.person_export(records=records)), content_type="application/json"
        )
        response["Content-Disposition"] = 'attachment; filename="person-export.json"'
        return response

    def person_erase(self, request):
        if not request.user.is_superuser and not request.user.has_perm("leads.change_lead"):
            raise PermissionDenied
        publisher = self._publisher(request)
        data = request.POST if request.method == "POST" else None
        email = (data or request.GET).get("email", "")
        find = PersonFindForm({"email": email})
        if not find.is_valid():
            return redirect("admin:privacy_person_find")
        form = PersonEraseForm(data, initial={"email": email})
        if data is not None and form.is_valid():
            report = services.person_erase(
                email=form.cleaned_data["email"],
                publisher=publisher,
                actor=request.user,
                reason=form.cleaned_data["reason"],
                source=SOURCE,
            )
            messages.success(
                request,
                _("Erased: %(leads)s lead(s); %(told)s CRM target(s) will be told.")
                % {"leads": len(report.lead_ids), "told": len(report.recipients)}
                if not report.is_noop
                else _("Nothing was left to erase for this address."),
            )
            return redirect(reverse("admin:privacy_erasurerecord_changelist"))
        records = selectors.person_records(email=find.cleaned_data["email"], publisher=publisher)
        context = self._context(
            request,
            form=form,
            publisher=publisher,
            email=find.cleaned_data["email"],
            title=_("Erase a person"),
            **person_context(records),
        )
        status = 400 if form.errors else 200
        return TemplateResponse(request, "admin/privacy/erase.html", context, status=status)
