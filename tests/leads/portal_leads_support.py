"""Helpers shared by the portal lead page test modules."""

from django.urls import reverse

LEADS = reverse("leads")
REFERRALS = reverse("referrals")


def shown(response) -> list[str]:
    """The emails of the leads on the page, in their order."""
    assert response.status_code == 200, response.content[:500]
    return [lead.email for lead in response.context["page"].leads]
