"""A referral row for every Co-Sell referral received before referrals had rows."""

from django.db import migrations

PREFIX = "co-sell:"


def backfill(apps, schema_editor):
    activity_model = apps.get_model("leads", "LeadActivity")
    referral_model = apps.get_model("leads", "Referral")
    activities = (
        activity_model.objects.filter(external_id__startswith=PREFIX, lead__origin="co-sell")
        .select_related("lead")
        .order_by("pk")
    )
    for activity in activities.iterator(chunk_size=500):
        lead = activity.lead
        referral_model.objects.get_or_create(
            publisher_id=lead.publisher_id,
            partner_center_id=activity.external_id.removeprefix(PREFIX),
            defaults={
                "lead": lead,
                "name": activity.external_id.removeprefix(PREFIX),
                "customer_name": lead.company,
                "customer_need": activity.description,
                "status": "New",
                "substatus": "Pending",
                "sync_state": "local",
                "pc_created_at": activity.occurred_at,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("leads", "0012_referral")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True)]
