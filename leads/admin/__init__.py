"""Staff admin for publishers, listings, campaigns, leads and scoring (DESIGN §2).

Writes that have a service go through it: publishing, unpublishing, seeding rules,
rescoring, Co-Sell referrals. Lead and activity tables reach millions of rows, so their
changelists never count the whole table, never filter on a big relation, and select
every relation they show. Importing the package registers every admin.
"""

from leads.admin import (  # noqa: F401
    catalog,
    credentials,
    leads,
    notifications,
    nurture,
    referral_records,
    referrals,
    sending,
)
from leads.admin.leads import LeadAdmin

__all__ = ["LeadAdmin"]
