"""The lead list's columns, which a member shows or hides with the column chooser.

The name is always shown. Every other column is one `Column` here, and its cell is one
branch of `templates/leads/partials/lead_cell.html`, keyed by `key`: adding a column is a
line here and a branch there. `origin` limits a column to one list (marketplace leads or
Co-Sell referrals); `sort` names its `LEAD_SORTS` sort, when its header sorts.
"""

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from leads.models import LeadOrigin


@dataclass(frozen=True)
class Column:
    key: str
    label: str | Promise
    sort: str | None = None
    origin: str | None = None
    is_default: bool = True
    is_numeric: bool = False


MARKETPLACE, CO_SELL = LeadOrigin.MARKETPLACE, LeadOrigin.CO_SELL

LEAD_COLUMNS: tuple[Column, ...] = (
    Column("email", _("Email")),
    Column("company", _("Company")),
    Column("status", _("Status")),
    Column("referral", _("Referral"), origin=CO_SELL),
    Column("pc_status", _("Partner Center status"), origin=CO_SELL),
    Column("pc_substatus", _("Sub-status"), origin=CO_SELL),
    Column("deal_value", _("Deal value"), sort="deal_value", origin=CO_SELL, is_numeric=True),
    Column("close_date", _("Close date"), sort="close_date", origin=CO_SELL),
    Column("seller", _("Microsoft seller"), origin=CO_SELL),
    Column("score", _("Score"), sort="score", origin=MARKETPLACE, is_numeric=True),
    Column("listing", _("Storefront · listing")),
    Column("campaign", _("Latest campaign"), origin=MARKETPLACE),
    Column("title", _("Job title"), is_default=False),
    Column("country", _("Country"), is_default=False),
    Column("created", _("Created"), sort="created"),
    Column("last_activity", _("Last activity"), sort="last_activity"),
)


# Shown by default on the marketplace list but not on the Co-Sell list, where the deal's
# columns need the room (the column chooser offers them still).
CO_SELL_HIDDEN = frozenset({"email", "listing", "last_activity"})


def _is_default(column: Column, origin: str) -> bool:
    return column.is_default and not (origin == CO_SELL and column.key in CO_SELL_HIDDEN)


def columns_for(origin: str) -> list[Column]:
    """The columns the list of this origin offers, in table order."""
    return [column for column in LEAD_COLUMNS if column.origin in (None, origin)]


def columns_shown(origin: str, chosen: list[str] | None) -> list[Column]:
    """The columns to show: the chosen ones (in table order), or the defaults."""
    offered = columns_for(origin)
    if chosen is None:
        return [column for column in offered if _is_default(column, origin)]
    return [column for column in offered if column.key in chosen]
