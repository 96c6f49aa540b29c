"""The dashboard's reads of leads: rolled-up daily figures and campaign progress.

Marketplace figures leave out test leads and Co-Sell referrals (DESIGN §1). The funnel by
status is cached by the rollup task: `leads.reporting.rollup.status_counts`.
"""

from datetime import date

from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from leads.models import Campaign, LeadDailyStat, LeadOrigin


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


def campaigns_with_qualified(*, publisher, limit: int) -> QuerySet[Campaign]:
    """The latest running or past campaigns, each with its rolled-up qualified leads."""
    qualified = Sum(
        "daily_stats__qualified_count",
        filter=Q(daily_stats__origin=LeadOrigin.MARKETPLACE, daily_stats__is_test=False),
    )
    return (
        Campaign.objects.filter(publisher=publisher)
        .exclude(status=Campaign.Status.DRAFT)
        .annotate(qualified=Coalesce(qualified, 0))
        .order_by("-starts_on", "name")[:limit]
    )
