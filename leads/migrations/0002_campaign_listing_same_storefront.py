"""Make PostgreSQL refuse a campaign listing of another storefront.

CampaignListing carries the storefront, and two composite foreign keys tie it to both
(campaign.id, campaign.storefront) and (listing.id, listing.storefront): a row whose
listing sits on another storefront than its campaign cannot exist. SQLite (the
first-run database) cannot add constraints to an existing table, so there the model
validation and the service are the guard.
"""

from django.db import migrations

FORWARD = [
    """ALTER TABLE leads_campaignlisting
         ADD CONSTRAINT campaignlisting_campaign_same_storefront
         FOREIGN KEY (campaign_id, storefront)
         REFERENCES leads_campaign (id, storefront)
         ON UPDATE CASCADE ON DELETE CASCADE""",
    """ALTER TABLE leads_campaignlisting
         ADD CONSTRAINT campaignlisting_listing_same_storefront
         FOREIGN KEY (listing_id, storefront)
         REFERENCES leads_listing (id, storefront)
         ON DELETE CASCADE""",
]
BACKWARD = [
    "ALTER TABLE leads_campaignlisting DROP CONSTRAINT campaignlisting_campaign_same_storefront",
    "ALTER TABLE leads_campaignlisting DROP CONSTRAINT campaignlisting_listing_same_storefront",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("leads", "0001_initial")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
