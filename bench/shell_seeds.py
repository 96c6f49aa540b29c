"""Pieces of the `manage.py shell` scripts that the benchmarks seed their databases with."""

# The bench publisher, with the contact details a nurture email needs, and its active
# AppSource campaign: `publisher` and `campaign` for the rest of the script.
PUBLISHER_WITH_CAMPAIGN = """
from datetime import date
from leads.models import Campaign
from leads.scoring import services as scoring_services
publisher = scoring_services.publisher_onboard(
    name="Bench Publisher", slug="bench", publisher_id="benchpub",
    lead_contact_email="sales@bench.example", postal_address="1 Bench Street\\nBenchville",
)
campaign = Campaign.objects.create(
    publisher=publisher, storefront="appsource", name="Bench", code="bench",
    starts_on=date(2026, 1, 1), status="active",
)
"""
