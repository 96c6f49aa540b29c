"""The dashboard's reads of leads: rolled-up daily figures (campaign progress is read live
through leads.campaigns.selectors, like the campaign page).

Marketplace figures leave out test leads and Co-Sell referrals (DESIGN §1). The funnel by
status is cached by the rollup task: `leads.reporting.rollup.status_counts`.
"""

from datetime import date

from django.db.models import Sum

from leads.models import LeadDailyStat, LeadOrigin


def daily_stats_for_publisher(*, publisher, since: date, until: date) -> list[dict]:
    """Marketplace figures from the rollup, by day, storefront and action code."""
    return list(
        LeadDailyStat.objects.filter(
            publisher=publisher, origin=LeadOrigin.MARKETPLACE, is_test=False
        )
        .filter(day__gte=since, day__lte=until)
        .values("day", "storefront", "action_code")
        .annotate(new=Sum("new_count"), qualified=Sum("qualified_count"))
        .annotate(accepted=Sum("accepted_count"))
        .order_by()
    )
