"""A Co-Sell referral's page: what Partner Center says of it, and the publisher's accept,
decline, won and lost (owners and members alike, as for a lead's moves).

The move is checked here against Partner Center's table (a form error next to the field
at fault) and sent by a worker; the page shows it pending, synced or failed.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from leads.referrals import selectors, services, transitions
from leads.referrals.forms import ReferralActionForm
from portal.tenancy.decorators import found_or_404, publisher_required

_DONE = {
    "accept": gettext_lazy("Accepted. The answer is on its way to Partner Center."),
    "decline": gettext_lazy("Declined. The answer is on its way to Partner Center."),
    "won": gettext_lazy("Marked won. The change is on its way to Partner Center."),
    "lost": gettext_lazy("Marked lost. The change is on its way to Partner Center."),
}


@publisher_required
@require_http_methods(["GET", "POST"])
def referral_detail(request, referral_id: int):
    """One referral and the actions its status allows."""
    referral = found_or_404(
        selectors.referral_get_for_publisher(publisher=request.publisher, referral_id=referral_id),
        _("No such referral."),
    )
    allowed = transitions.actions_allowed(status=referral.status, substatus=referral.substatus)
    forms = {name: ReferralActionForm(action=name, referral=referral) for name in allowed}
    action = request.POST.get("action", "")
    if request.method == "POST":
        if action not in transitions.ACTIONS:
            raise Http404(_("No such action."))
        form = forms[action] = ReferralActionForm(request.POST, action=action, referral=referral)
        if form.is_valid():
            try:
                services.referral_act(
                    referral=referral, action=action, by=request.user, **form.service_kwargs()
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(request, str(_DONE[action]))
                return redirect("referral-detail", referral_id=referral.pk)
    context = {
        "referral": referral,
        "forms": list(forms.values()),
        "posted": action,
        "is_pending": referral.sync_state == referral.SyncState.PENDING,
    }
    return render(request, "leads/referral_detail.html", context, status=400 if action else 200)
