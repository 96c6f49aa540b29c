"""The scoring page: rules, threshold, preview and rescoring progress.

Members see the rules and the progress; only owners preview and save (the preview is
part of editing). Saving writes the rules and the threshold in one transaction and
queues a rescoring of every marketplace lead; the page polls its progress every 2 s.
"""

from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from leads.models import Lead, RescoreRun
from leads.scoring import services as scoring_services
from leads.scoring.forms import ThresholdForm, action_code_legend, rules_formset
from leads.scoring.rules import (
    RuleSpec,
    activity_facts,
    lead_facts,
    may_qualify,
    qualification_threshold,
    score_lead,
)
from portal.tenancy.decorators import owner_required_to_post, publisher_required

PREVIEW_SAMPLE = 20
ACTIVE_RUN = (RescoreRun.Status.QUEUED, RescoreRun.Status.RUNNING)


@dataclass(frozen=True)
class PreviewRow:
    lead: Lead
    old_score: int
    new_score: int
    threshold: int
    would_qualify: bool


def scoring_preview(*, publisher, rules: list[RuleSpec], threshold: int) -> list[PreviewRow]:
    """The publisher's 20 latest marketplace leads scored under edited rules. Reads only."""
    leads = list(
        Lead.objects.filter(publisher=publisher, origin=Lead.Origin.MARKETPLACE)
        .select_related("latest_campaign")
        .order_by("-created_at", "-id")[:PREVIEW_SAMPLE]
    )
    activities = activity_facts(lead_ids=[lead.pk for lead in leads])
    now = timezone.now()
    preview = []
    for lead in leads:
        facts = activities[lead.pk]
        score = score_lead(rules, lead_facts(lead, facts), now=now).score
        lead_threshold = qualification_threshold(
            publisher_threshold=threshold, campaign=lead.latest_campaign
        )
        would_qualify = may_qualify(
            score=score, is_test=lead.is_test, activities=facts, threshold=lead_threshold
        )
        preview.append(PreviewRow(lead, lead.score, score, lead_threshold, would_qualify))
    return preview


def _latest_run(publisher) -> RescoreRun | None:
    return RescoreRun.objects.filter(publisher=publisher).order_by("-created_at", "-id").first()


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


@publisher_required
@require_GET
def scoring_progress(request: HttpRequest) -> HttpResponse:
    """The latest rescoring's progress, as the fragment the page polls."""
    run = _latest_run(request.publisher)
    context = {"run": run, "run_active": run is not None and run.status in ACTIVE_RUN}
    return render(request, "leads/scoring.html#progress", context)


@owner_required_to_post
def scoring(request: HttpRequest) -> HttpResponse:
    """The rules editor and threshold; POST previews (action=preview) or saves."""
    publisher = request.publisher
    is_post = request.method == "POST"
    formset = rules_formset(request.POST if is_post else None, publisher=publisher)
    threshold_form = ThresholdForm(
        request.POST if is_post else None,
        initial={"threshold": publisher.qualification_threshold},
        prefix="threshold",
    )
    preview = None
    if is_post:
        is_valid = formset.is_valid() and threshold_form.is_valid()
        if request.POST.get("action") == "preview":
            if is_valid:
                preview = scoring_preview(
                    publisher=publisher,
                    rules=formset.rule_specs(),
                    threshold=threshold_form.cleaned_data["threshold"],
                )
                if _is_htmx(request):
                    return render(request, "leads/scoring.html#preview", {"preview": preview})
        elif is_valid:
            response = _save(request, formset, threshold_form)
            if response is not None:
                return response
    return _render_page(request, formset, threshold_form, preview)


def _save(request: HttpRequest, formset, threshold_form) -> HttpResponse | None:
    publisher = request.publisher
    threshold = threshold_form.cleaned_data["threshold"]
    if not formset.has_changed() and threshold == publisher.qualification_threshold:
        messages.info(request, _("Nothing changed."))
        return redirect("scoring")
    try:
        scoring_services.scoring_rules_save(
            publisher=publisher,
            edits=formset.edits(),
            threshold=threshold,
            requested_by=request.user,
        )
    except ValidationError as exc:
        formset._non_form_errors = formset.error_class(exc.messages)
        return None
    messages.success(request, _("Rules saved. Your leads are being rescored."))
    return redirect("scoring")


def _render_page(request: HttpRequest, formset, threshold_form, preview) -> HttpResponse:
    run = _latest_run(request.publisher)
    context = {
        "formset": formset,
        "threshold_form": threshold_form,
        "preview": preview,
        "run": run,
        "run_active": run is not None and run.status in ACTIVE_RUN,
        "can_edit": request.membership.is_owner,
        "action_codes": action_code_legend(),
    }
    response = render(request, "leads/scoring.html", context)
    if _is_htmx(request):
        # The preview asked for a fragment, but the rules have errors: show them in place.
        response["HX-Retarget"] = "#scoring-editor"
        response["HX-Reselect"] = "#scoring-editor"
        response["HX-Reswap"] = "outerHTML"
    return response
