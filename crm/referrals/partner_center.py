"""A connection's rows as the connector's settings and session, and the values a
Partner Center referral gives the referral row."""

from urllib.parse import quote

from django.conf import settings

from crm import pacing
from crm.connectors.partner_center import PartnerCenterSettings, ReferralsSession, RemoteReferral
from crm.models import ReferralConnection
from leads.referrals.services import REMOTE_FIELDS


def connector_settings(connection: ReferralConnection) -> PartnerCenterSettings:
    """The token and API URLs come from settings (PARTNER_CENTER_TOKEN_URL, …_API_URL)."""
    tenant = quote(connection.tenant_id.strip() or "common", safe="")
    return PartnerCenterSettings(
        token_url=settings.PARTNER_CENTER_TOKEN_URL.replace("{tenant}", tenant),
        api_url=settings.PARTNER_CENTER_API_URL.rstrip("/"),
        client_id=connection.client_id,
        client_secret=str(connection.secrets.get("client_secret") or ""),
        username=connection.username,
        password=str(connection.secrets.get("password") or ""),
    )


def session_for(connection: ReferralConnection) -> ReferralsSession:
    """A session through the guarded client; raises ConfigurationError."""
    return ReferralsSession(
        connector_settings(connection),
        pacing.send_options(),
        max_wait=settings.PARTNER_CENTER_MAX_WAIT_SECONDS,
    )


def row_values(remote: RemoteReferral) -> dict:
    """What the referral row keeps of Partner Center's copy."""
    return {name: getattr(remote, name) for name in REMOTE_FIELDS}
