"""Every model of the leads app, from the sub-package that owns it (DESIGN §3)."""

from leads.campaigns.models import Campaign, CampaignListing
from leads.catalog.models import Listing
from leads.consent.models import ConsentBasis, ConsentReason, ConsentRecord
from leads.intake.models import ApiKey, PublisherApiToken
from leads.lifecycle.models import (
    CoSellReferral,
    Lead,
    LeadActivity,
    LeadDailyStat,
    LeadOrigin,
    LeadStatus,
    LeadTransition,
)
from leads.notifications.models import (
    LeadNotification,
    NotificationEmail,
    NotificationEmailKind,
    NotificationEmailStatus,
    NotificationPreference,
    NotificationPreferenceMode,
)
from leads.nurture.models import (
    EmailEvent,
    EmailSend,
    Enrollment,
    EnrollmentState,
    NurtureSequence,
    NurtureSequenceStatus,
    NurtureStep,
    Suppression,
)
from leads.referrals.models import (
    Referral,
    ReferralStatus,
    ReferralSubstatus,
    ReferralSyncState,
)
from leads.reporting.models import LeadCohortDirty, LeadCohortStat, LeadRollupState
from leads.saved_views.models import SavedView
from leads.scoring.models import RescoreRun, ScoringRule
from leads.sending.models import SendingIdentity
from leads.work.models import LeadMerge, LeadNote

__all__ = [
    "ApiKey",
    "Campaign",
    "CampaignListing",
    "CoSellReferral",
    "ConsentBasis",
    "ConsentReason",
    "ConsentRecord",
    "EmailEvent",
    "EmailSend",
    "Enrollment",
    "EnrollmentState",
    "Lead",
    "LeadActivity",
    "LeadCohortDirty",
    "LeadCohortStat",
    "LeadDailyStat",
    "LeadMerge",
    "LeadNote",
    "LeadNotification",
    "LeadOrigin",
    "LeadRollupState",
    "LeadStatus",
    "LeadTransition",
    "Listing",
    "NotificationEmail",
    "NotificationEmailKind",
    "NotificationEmailStatus",
    "NotificationPreference",
    "NotificationPreferenceMode",
    "NurtureSequence",
    "NurtureSequenceStatus",
    "NurtureStep",
    "PublisherApiToken",
    "Referral",
    "ReferralStatus",
    "ReferralSubstatus",
    "ReferralSyncState",
    "RescoreRun",
    "SavedView",
    "ScoringRule",
    "SendingIdentity",
    "Suppression",
]
