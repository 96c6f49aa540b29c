"""Public endpoints about sent email (docs/email.md): the tracked-link redirect and the
ESP tracking webhooks of django-anymail, mounted only when a webhook secret is set."""

from anymail.webhooks.amazon_ses import AmazonSESTrackingWebhookView
from anymail.webhooks.postmark import PostmarkTrackingWebhookView
from anymail.webhooks.sendgrid import SendGridTrackingWebhookView
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from leads.nurture import links


@never_cache
@require_GET
def tracked_link(request: HttpRequest, signed: str) -> HttpResponse:
    """Record the click and go to the exact URL that was signed; anything else is a 400 page."""
    link = links.link_read(signed)
    if link is None:
        return render(request, "leads/tracked_link_invalid.html", status=400)
    links.link_click_record(link=link)
    return HttpResponseRedirect(link.url)


def _with_secret(view):
    """anymail accepts unauthenticated posts when WEBHOOK_SECRET is unset (with a warning):
    here such a portal has no webhook at all."""

    @csrf_exempt
    def guarded(request, *args, **kwargs):
        if not getattr(settings, "ANYMAIL", {}).get("WEBHOOK_SECRET"):
            raise Http404
        return view(request, *args, **kwargs)

    return guarded


sendgrid_tracking = _with_secret(SendGridTrackingWebhookView.as_view())
postmark_tracking = _with_secret(PostmarkTrackingWebhookView.as_view())
amazon_ses_tracking = _with_secret(AmazonSESTrackingWebhookView.as_view())
