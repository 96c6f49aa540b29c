"""Connector tests: plain pytest against loopback contract receivers (no database)."""

from dataclasses import replace

from crm.connectors.base import DeliveryPayload, SendOptions

# Loopback receivers need private targets allowed; short timeouts keep failures quick.
LOOPBACK = SendOptions(allow_private_targets=True, connect_timeout=2.0, total_timeout=5.0)

_PAYLOAD = DeliveryPayload(
    delivery_id="6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f",
    event="lead.qualified",
    lead_id="0d8b7e6f-1a2b-4c3d-9e8f-7a6b5c4d3e2f",
    first_name="Zoë",
    last_name="Okafor",
    email="zoe.okafor@example.com",
    phone="+44 20 7946 0000",
    country="GB",
    company="Fabrikam Ltd",
    title="Head of IT",
    storefront="appsource",
    action_code="PLT",
    lead_source="AppSource-PLT|Contoso CRM Connector",
    offer_id="contoso.crm-connector",
    offer_title="Contoso CRM Connector",
    publisher_id="contoso",
    publisher_name="Contoso",
    description="Wants a trial for 50 seats",
    campaign_code="SPRING26",
    score=72,
    status="qualified",
    created_at="2026-03-01T09:30:00+00:00",
    origin="marketplace",
)


def make_payload(**overrides) -> DeliveryPayload:
    return replace(_PAYLOAD, **overrides)
