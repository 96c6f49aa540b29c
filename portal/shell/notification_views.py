"""New-lead email in the shell: the settings card's form, and the email's links to a lead.

A member's choice is their own: any member may save it (views.notifications_save), for
themselves only.
"""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET

from leads.notifications import selectors as notification_selectors
from leads.notifications.forms import NotificationPreferenceForm
from portal.tenancy import middleware, selectors
from portal.tenancy.decorators import found_or_404


def notification_form(request: HttpRequest) -> NotificationPreferenceForm:
    """The card's form, filled with the member's current (or default) choice."""
    choice = notification_selectors.choice_for_membership(membership=request.membership)
    return NotificationPreferenceForm(publisher=request.publisher, choice=choice)


@login_required
@require_GET
def lead_open(request: HttpRequest, publisher_id: int, lead_id) -> HttpResponse:
    """A lead link from an email: switch to the lead's publisher (one of the user's own,
    else 404, as the switcher does), then show the lead."""
    membership = found_or_404(
        selectors.membership_get_for_user(user=request.user, publisher_id=publisher_id),
        "No such publisher.",
    )
    request.session[middleware.SESSION_KEY] = membership.publisher_id
    return redirect("lead-detail", lead_id=lead_id)
