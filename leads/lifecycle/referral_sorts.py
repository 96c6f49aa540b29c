"""The Co-Sell list's sorts on each lead's latest referral: close date and deal value.

The lead is joined to its latest referral (the most recently updated: the one the list
shows). "No newer referral of the lead" is an anti-join, which lets PostgreSQL walk the
referral sort index (`leads/0024`: publisher, COALESCE(field, far end), lead) and stop
after a page. A referral without a close date or a value sorts last either way: the
missing value stands for the far end of the direction's order. `leads.lifecycle.selectors`
adds these sorts to `LEAD_SORTS`.

A page of these sorts is planned without parallel workers (`serial_plan`): the planner
does not know that every referral's lead is a Co-Sell lead, expects few of the walked
rows to match, and at 100,000 referrals chose a Gather Merge of three parallel walks,
whose start cost about 130 ms and which read 351 rows for a page of 51.
"""

from contextlib import contextmanager

from django.db import connection, transaction
from django.db.models import (
    DateField,
    DecimalField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Value,
)
from django.db.models.functions import Coalesce

from leads.models import Lead, Referral
from leads.referrals.models import (
    CLOSE_DATE_HIGHEST,
    CLOSE_DATE_LOWEST,
    DEAL_VALUE_HIGHEST,
    DEAL_VALUE_LOWEST,
)
from portal.models import Publisher

# name: (alias, referral field, cursor kind, output field, lowest, highest)
_KEYS = {
    "close_date": (
        "k_close",
        "close_date",
        "date",
        DateField(),
        CLOSE_DATE_LOWEST,
        CLOSE_DATE_HIGHEST,
    ),
    "deal_value": (
        "k_value",
        "deal_value",
        "dec",
        DecimalField(max_digits=16, decimal_places=2),
        DEAL_VALUE_LOWEST,
        DEAL_VALUE_HIGHEST,
    ),
}
REFERRAL_SORT_NAMES = frozenset(_KEYS)
# The direction each sorts in when its header is first clicked.
REFERRAL_SORT_DESCENDING = {"close_date": False, "deal_value": True}


def referral_sort_keys(*, descending: bool) -> dict[str, tuple[tuple[str, object, str], ...]]:
    """Per referral sort, its keys (alias, expression, kind) in this direction."""
    return {
        name: (
            (
                alias,
                Coalesce(
                    F(f"referrals__{field}"),
                    Value(lowest if descending else highest, output_field=output),
                    output_field=output,
                ),
                kind,
            ),
        )
        for name, (alias, field, kind, output, lowest, highest) in _KEYS.items()
    }


def with_latest_referral(leads: QuerySet[Lead], *, publisher: Publisher) -> QuerySet[Lead]:
    """The leads joined to their latest referral: `referrals__…` in a later annotation is
    that row. A lead with no referral (intake stores one with every Co-Sell lead) is left
    out."""
    newer = Referral.objects.filter(lead_id=OuterRef("referrals__lead_id")).filter(
        Q(updated_at__gt=OuterRef("referrals__updated_at"))
        | Q(updated_at=OuterRef("referrals__updated_at"), id__gt=OuterRef("referrals__id"))
    )
    return leads.filter(~Exists(newer), referrals__publisher=publisher)


@contextmanager
def serial_plan():
    """Run the block's queries without parallel workers (PostgreSQL; nothing elsewhere)."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        yield
