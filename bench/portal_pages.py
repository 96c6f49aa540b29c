"""The deliveries and Co-Sell pages bench/portal.py measures: every filter and sort."""

import re
from datetime import datetime
from urllib.parse import quote_plus


def list_samples(client, publisher_id: int) -> tuple[list[tuple], list[tuple]]:
    """The deliveries and Co-Sell pages, each filter and sort: (name, URL) pairs."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.id, l.uuid, d.created_at FROM crm_delivery d "
            "JOIN crm_crmtarget t ON t.id = d.target_id JOIN leads_lead l ON l.id = d.lead_id "
            "WHERE t.publisher_id = %s ORDER BY d.id DESC LIMIT 1",
            [publisher_id],
        )
        target, lead, created = cursor.fetchone() or (0, "", datetime.now())
        cursor.execute(
            "SELECT l.last_name FROM leads_lead l JOIN leads_referral r ON r.lead_id = l.id "
            "WHERE r.publisher_id = %s ORDER BY r.id DESC LIMIT 1",
            [publisher_id],
        )
        found = cursor.fetchone()
    day = (created.date() if created else datetime.now().date()).isoformat()
    after = re.search(
        r'href="\?[^"]*after=([^"&]+)[^"]*" rel="next"', _text(client, "/crm/deliveries/")
    )
    deliveries = [
        ("all", "/crm/deliveries/"),
        ("page 2 (keyset cursor)", f"/crm/deliveries/?after={after.group(1) if after else ''}"),
        ("one target", f"/crm/deliveries/?target={target}"),
        ("failed", "/crm/deliveries/?status=failed"),
        ("pending", "/crm/deliveries/?status=pending"),
        ("sending (none)", "/crm/deliveries/?status=sending"),
        ("test leads", "/crm/deliveries/?event=test"),
        ("erasures", "/crm/deliveries/?event=lead.erased"),
        ("updates", "/crm/deliveries/?event=lead.updated"),
        ("with an error", "/crm/deliveries/?has_error=yes"),
        ("without an error", "/crm/deliveries/?has_error=no"),
        ("one day", f"/crm/deliveries/?date_from={day}&date_to={day}"),
        ("one day, failed", f"/crm/deliveries/?date_from={day}&date_to={day}&status=failed"),
        ("test leads of one target", f"/crm/deliveries/?event=test&target={target}"),
        ("one lead", f"/crm/deliveries/?lead={lead}"),
    ]
    referrals = [
        ("newest", "/referrals/"),
        ("oldest", "/referrals/?sort=created"),
        ("by close date", "/referrals/?sort=close_date"),
        ("by close date, latest first", "/referrals/?sort=-close_date"),
        ("by deal value", "/referrals/?sort=-deal_value"),
        ("by deal value, smallest first", "/referrals/?sort=deal_value"),
        ("by name", "/referrals/?sort=name"),
        ("by last activity", "/referrals/?sort=-last_activity"),
        ("status accepted", "/referrals/?status=accepted"),
        ("status won, by deal value", "/referrals/?status=won&sort=-deal_value"),
        ("searched: a last name", f"/referrals/?q={quote_plus(found[0] if found else 'x')}"),
        ("searched: a company", "/referrals/?q=Humongous"),
        ("searched: nothing found", "/referrals/?q=zqxwv"),
    ]
    return deliveries, referrals


def _text(client, url: str) -> str:
    return client.get(url).content.decode()
