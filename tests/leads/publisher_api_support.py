"""Helpers shared by the publisher API test modules."""

from datetime import UTC, datetime

from django.test import Client

from leads.intake import api_keys
from leads.models import Lead

LIST = "/api/v1/publisher/leads"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class PublisherApi:
    """A publisher with a live API token, and a client that sends it."""

    def __init__(self, publisher):
        self.publisher = publisher
        self.api_token, self.token = api_keys.publisher_token_create(publisher=publisher, name="ci")
        self.client = Client()

    def get(self, path, token=None, **params):
        return self.client.get(path, params, HTTP_AUTHORIZATION=f"Bearer {token or self.token}")

    def ids(self, **params) -> list[str]:
        response = self.get(LIST, **params)
        assert response.status_code == 200, response.content
        return [item["id"] for item in response.json()["items"]]


def created(lead: Lead, at: datetime, **fields) -> Lead:
    """Set the lead's created_at (auto_now_add fixes it at insert), and other fields."""
    Lead.objects.filter(pk=lead.pk).update(created_at=at, **fields)
    lead.refresh_from_db()
    return lead


def uuids(*leads: Lead) -> list[str]:
    """The leads' UUIDs as the API writes them."""
    return [str(lead.uuid) for lead in leads]
