"""Portal pages of the leads app, one module per area."""

from leads.views.leads import lead_detail, lead_export, lead_import, lead_list, referral_list
from leads.views.listings import listing_create, listing_detail, listing_list
from leads.views.scoring import scoring

__all__ = [
    "lead_detail",
    "lead_export",
    "lead_import",
    "lead_list",
    "listing_create",
    "listing_detail",
    "listing_list",
    "referral_list",
    "scoring",
]
