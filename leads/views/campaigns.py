"""Campaign pages: list, create and edit, the campaign's funnel, the sequence editor,
and the comparison. Members read; owners write (DESIGN §2)."""

from django.conf import settings
from django.contrib import messages
from django.core import mail
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from leads.campaigns import selectors
from leads.campaigns import services as campaign_services
from leads.campaigns.forms import CampaignForm, StepForm, StepPreviewForm
from leads.lifecycle.snapshot import LeadSnapshot
from leads.models import Campaign, NurtureSequence
from leads.nurture import render as nurture_render
from leads.nurture import services as nurture
from leads.nurture import unsubscribe
from portal.tenancy.decorators import found_or_404, owner_required, publisher_required

MAX_COMPARED = 4


def _campaign_or_404(request: HttpRequest, campaign_id: int) -> Campaign:
    campaign = selectors.campaign_get_for_publisher(
        publisher=request.publisher, campaign_id=campaign_id
    )
    return found_or_404(campaign, _("No such campaign."))


@publisher_required
@require_GET
def campaign_list(request: HttpRequest) -> HttpResponse:
    """Every campaign of the publisher with its kind, dates, status and goal progress."""
    campaigns = list(selectors.campaigns_for_publisher(publisher=request.publisher))
    funnels = selectors.campaign_funnels(publisher=request.publisher, campaigns=campaigns)
    rows = [(campaign, funnels[campaign.pk]) for campaign in campaigns]
    return render(request, "leads/campaign_list.html", {"rows": rows, "max_compared": MAX_COMPARED})


def _campaign_lookup(request: HttpRequest, campaign_id: int, **_) -> object | None:
    return selectors.campaign_get_for_publisher(
        publisher=request.publisher, campaign_id=campaign_id
    )


def _campaign_saved(request: HttpRequest, form: CampaignForm, campaign: Campaign | None):
    """Create the campaign (None) or update it through its service; return it."""
    listings = form.cleaned_data.get("listings") or []
    if campaign is None:
        return campaign_services.campaign_create(
            publisher=request.publisher,
            storefront=form.cleaned_data["storefront"],
            listings=listings,
            **form.service_fields(),
        )
    campaign_services.campaign_update(campaign=campaign, listings=listings, **form.service_fields())
    return campaign


def _campaign_form_page(request: HttpRequest, campaign: Campaign | None) -> HttpResponse:
    """The campaign form: a new campaign when `campaign` is None, else that one's edit."""
    form = CampaignForm(request.POST or None, instance=campaign, publisher=request.publisher)
    if request.method == "POST" and form.is_valid():
        try:
            saved = _campaign_saved(request, form, campaign)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            saved_message = _("Campaign created.") if campaign is None else _("Campaign saved.")
            messages.success(request, saved_message)
            return redirect("campaign-detail", campaign_id=saved.pk)
    return render(request, "leads/campaign_form.html", {"form": form, "campaign": campaign})


@owner_required
@require_http_methods(["GET", "POST"])
def campaign_create(request: HttpRequest) -> HttpResponse:
    """A new campaign of the publisher."""
    return _campaign_form_page(request, None)


@owner_required(lookup=_campaign_lookup)
@require_http_methods(["GET", "POST"])
def campaign_edit(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """A campaign's name, dates, goal and listings."""
    return _campaign_form_page(request, _campaign_or_404(request, campaign_id))


@publisher_required
@require_GET
def campaign_detail(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The funnel, goal progress, leads per day and email figures per step."""
    campaign = _campaign_or_404(request, campaign_id)
    funnel = selectors.campaign_funnels(publisher=request.publisher, campaigns=[campaign])
    per_day = selectors.campaign_leads_per_day(campaign=campaign)
    chart = {
        "label": _("New leads"),
        "labels": [day.isoformat() for day, _count in per_day],
        "values": [count for _day, count in per_day],
    }
    context = {
        "campaign": campaign,
        "funnel": funnel[campaign.pk],
        "chart": chart,
        "steps": selectors.campaign_step_figures(campaign=campaign),
        "enrollments": selectors.campaign_enrollment_counts(campaign=campaign),
        "sequence_status": selectors.sequence_status(campaign=campaign),
        "click_tracking": selectors.sequence_click_tracking(campaign=campaign),
    }
    context["sequence_status_label"] = NurtureSequence.Status(context["sequence_status"]).label
    return render(request, "leads/campaign_detail.html", context)


@publisher_required
@require_GET
def campaigns_compare(request: HttpRequest) -> HttpResponse:
    """Two to four campaigns side by side."""
    ids = [int(value) for value in request.GET.getlist("ids") if value.isdigit()]
    campaigns = sorted(
        selectors.campaigns_for_publisher(publisher=request.publisher).filter(pk__in=ids),
        key=lambda campaign: ids.index(campaign.pk),  # in the order they were chosen
    )
    if not 2 <= len(campaigns) <= MAX_COMPARED:
        messages.error(request, _("Choose two to four campaigns to compare."))
        return redirect("campaigns")
    funnels = selectors.campaign_funnels(publisher=request.publisher, campaigns=campaigns)
    emails = selectors.campaign_email_totals(campaign_ids=[c.pk for c in campaigns])
    columns = [(c, funnels[c.pk], emails[c.pk]) for c in campaigns]
    return render(request, "leads/campaign_compare.html", {"columns": columns})


# --- The sequence editor ---------------------------------------------------------------------


def _sequence_page(request, campaign, form, status=200) -> HttpResponse:
    context = {
        "campaign": campaign,
        "steps": selectors.campaign_step_figures(campaign=campaign),
        "form": form,
        "sequence_status": selectors.sequence_status(campaign=campaign),
        "click_tracking": selectors.sequence_click_tracking(campaign=campaign),
        "needs_postal_address": not request.publisher.postal_address.strip(),
        "placeholders": nurture_render.PLACEHOLDERS,
    }
    return render(request, "leads/campaign_sequence.html", context, status=status)


@publisher_required
@require_GET
def campaign_sequence(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The steps, their figures, the form to add one, and start or pause."""
    campaign = _campaign_or_404(request, campaign_id)
    return _sequence_page(request, campaign, StepForm())


def _save_step(request, campaign, step, form) -> bool:
    if not form.is_valid():
        return False
    try:
        nurture.step_save(campaign=campaign, step=step, **form.service_fields())
    except ValidationError as error:
        form.add_error(None, error)
        return False
    return True


@owner_required(lookup=_campaign_lookup)
@require_POST
def campaign_step_create(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign_or_404(request, campaign_id)
    form = StepForm(request.POST)
    if _save_step(request, campaign, None, form):
        messages.success(request, _("Step added."))
        return redirect("campaign-sequence", campaign_id=campaign.pk)
    return _sequence_page(request, campaign, form, status=400)


def _step_or_404(campaign, step_id):
    step = selectors.step_get_for_campaign(campaign=campaign, step_id=step_id)
    return found_or_404(step, _("No such step."))


@owner_required(lookup=_campaign_lookup)
@require_http_methods(["GET", "POST"])
def campaign_step_edit(request: HttpRequest, campaign_id: int, step_id: int) -> HttpResponse:
    campaign = _campaign_or_404(request, campaign_id)
    step = _step_or_404(campaign, step_id)
    form = StepForm(request.POST or None, instance=step)
    if request.method == "POST" and _save_step(request, campaign, step, form):
        messages.success(request, _("Step saved."))
        return redirect("campaign-sequence", campaign_id=campaign.pk)
    context = {"campaign": campaign, "step": step, "form": form}
    status = 400 if request.method == "POST" else 200
    return render(request, "leads/campaign_step_form.html", context, status=status)


@owner_required(lookup=_campaign_lookup)
@require_POST
def campaign_step_delete(request: HttpRequest, campaign_id: int, step_id: int) -> HttpResponse:
    campaign = _campaign_or_404(request, campaign_id)
    try:
        nurture.step_delete(step=_step_or_404(campaign, step_id))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Step deleted."))
    return redirect("campaign-sequence", campaign_id=campaign.pk)


SAMPLE_LEAD = LeadSnapshot(
    lead_id="",
    first_name="Ada",
    last_name="Lovelace",
    email="ada@example.com",
    company="Analytical Engines Ltd",
    title="CTO",
)


def _sample_recipient(request, campaign, *, made_up: bool = False) -> nurture_render.Recipient:
    """The campaign's latest lead, or a made-up one when it has none yet (or `made_up`)."""
    publisher = request.publisher
    lead = None if made_up else selectors.campaign_sample_lead(campaign=campaign)
    listing = campaign.listings.order_by("name").first()
    return nurture_render.Recipient(
        lead=LeadSnapshot.of(lead) if lead else SAMPLE_LEAD,
        publisher_name=publisher.name,
        postal_address=publisher.postal_address,
        reply_to=publisher.lead_contact_email,
        offer_title=listing.name if listing else campaign.name,
    )


@publisher_required
@require_GET
def campaign_step_preview(request: HttpRequest, campaign_id: int, step_id: int) -> HttpResponse:
    """The step as its sample lead would read it: subject, text and HTML parts."""
    campaign = _campaign_or_404(request, campaign_id)
    step = _step_or_404(campaign, step_id)
    recipient = _sample_recipient(request, campaign)
    url = _preview_unsubscribe_url()
    message = nurture_render.build_message(
        subject=step.subject, body=step.body, recipient=recipient, unsubscribe_url=url
    )
    context = {
        "campaign": campaign,
        "step": step,
        "recipient": recipient,
        "message": message,
        # Generated by nurture_render from escaped text: safe to show as HTML.
        "html_body": nurture_render.render_html_body(
            step.body, nurture_render.placeholder_values(recipient, url)
        ),
    }
    return render(request, "leads/campaign_step_preview.html", context)


@owner_required(lookup=_campaign_lookup)
@require_POST
def campaign_step_live_preview(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The step editor's live preview (an htmx fragment): the subject and body being typed,
    rendered for a made-up sample lead by the sender's own renderer. Template errors are
    shown in place of the preview: a 422, or a 200 for htmx, which would not swap a 4xx
    (and the browser would log the 4xx as a console error while the owner types)."""
    campaign = _campaign_or_404(request, campaign_id)
    form = StepPreviewForm(request.POST)
    template = "leads/partials/step_live_preview.html"
    if not form.is_valid():
        status = 200 if request.headers.get("HX-Request") == "true" else 422
        return render(request, template, {"form": form}, status=status)
    message = nurture_render.build_message(
        subject=form.cleaned_data["subject"],
        body=form.cleaned_data["body"],
        recipient=_sample_recipient(request, campaign, made_up=True),
        unsubscribe_url=_preview_unsubscribe_url(),
    )
    html_part = next(
        content for content, mimetype in message.alternatives if mimetype == "text/html"
    )
    # The whole HTML part goes into a sandboxed iframe's srcdoc (escaped by the template).
    context = {"form": form, "message": message, "html_part": html_part}
    return render(request, template, context)


def _preview_unsubscribe_url() -> str:
    """A placeholder link for previews: it leads to the "link not valid" page."""
    return settings.PORTAL_BASE_URL + reverse("unsubscribe", kwargs={"token": "preview"})


@owner_required(lookup=_campaign_lookup)
@require_POST
def campaign_step_test(request: HttpRequest, campaign_id: int, step_id: int) -> HttpResponse:
    """Send me a test: the step, as the sample lead would get it, to the editor."""
    campaign = _campaign_or_404(request, campaign_id)
    step = _step_or_404(campaign, step_id)
    if not request.user.email:
        messages.error(request, _("Your account has no email address to send the test to."))
        return redirect("campaign-sequence", campaign_id=campaign.pk)
    recipient = _sample_recipient(request, campaign)
    url = unsubscribe.unsubscribe_url(publisher_id=request.publisher.pk, email=request.user.email)
    message = nurture_render.build_message(
        subject=_("[Test] %(subject)s") % {"subject": step.subject},
        body=step.body,
        recipient=recipient,
        unsubscribe_url=url,
    )
    message.to = [request.user.email]
    try:
        mail.mailers.default.send_messages([message])
    except OSError as error:
        messages.error(request, _("The test could not be sent: %(error)s") % {"error": error})
    else:
        messages.success(
            request, _("A test was sent to %(email)s.") % {"email": request.user.email}
        )
    return redirect("campaign-sequence", campaign_id=campaign.pk)


@owner_required(lookup=_campaign_lookup)
@require_POST
def campaign_sequence_start(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign_or_404(request, campaign_id)
    try:
        nurture.sequence_start(campaign=campaign, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("The sequence is running."))
    return redirect("campaign-sequence", campaign_id=campaign.pk)


@owner_required(lookup=_campaign_lookup)
@require_POST
def campaign_sequence_pause(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign_or_404(request, campaign_id)
    sequence = nurture.sequence_pause(campaign=campaign)
    if sequence.status == NurtureSequence.Status.PAUSED:
        messages.success(request, _("The sequence is paused."))
    return redirect("campaign-sequence", campaign_id=campaign.pk)


@owner_required(lookup=_campaign_lookup)
@require_POST
def campaign_sequence_click_tracking(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign_or_404(request, campaign_id)
    sequence = nurture.sequence_click_tracking_set(
        campaign=campaign, is_on=request.POST.get("click_tracking") == "on"
    )
    if sequence.click_tracking:
        messages.success(request, _("Clicks on the links of this sequence are now tracked."))
    else:
        messages.success(request, _("Click tracking is off."))
    return redirect("campaign-sequence", campaign_id=campaign.pk)
