"""Set-based top-ups of the portal benchmark's database (bench/portal.py --deliveries,
--referrals): more outbox rows and more Co-Sell referrals than seed_demo writes, in a few
`INSERT … SELECT` statements that copy the rows seed_demo wrote.

- `deliveries_top_up`: the publisher's outbox up to `total` rows. A second HTTPS target is
  added (a copy of the first), so the list spans two targets: it gets a copy of every
  `lead.qualified` row, then both targets get `lead.updated` rows (a later resend of a
  lead), until the total is reached; plus a few test leads and erasures, the rare events
  the list filters by.
- `leads_top_up`: the publisher's marketplace leads up to `total`, copies of its seeded
  ones (with their own email and uuid, no activities), for a seed stopped early.
- `referrals_top_up`: the publisher's Co-Sell leads up to `total` (copies of its seeded
  Co-Sell leads, with their own email and uuid, created over the last 180 days), then one
  referral for each Co-Sell lead that has none, with a status, a close date (70 %) and a
  deal value (80 %).
"""

import psycopg

TEST_DELIVERIES = 300
ERASURES = 500


def _columns(connection: psycopg.Connection, table: str) -> list[str]:
    """The table's columns that an INSERT may name: not the id, not a generated column."""
    rows = connection.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
        "AND column_name <> 'id' AND is_generated = 'NEVER' ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return [row[0] for row in rows]


def _copy(connection, table: str, source: str, overrides: dict[str, str], params: list) -> int:
    """INSERT INTO `table` a copy of each row of the query `source` (aliased `src`), each
    column taken from `src` unless `overrides` gives its SQL expression."""
    columns = _columns(connection, table)
    values = ", ".join(overrides.get(column, f"src.{column}") for column in columns)
    statement = f"INSERT INTO {table} ({', '.join(columns)}) SELECT {values} FROM ({source}) src"
    return connection.execute(statement, params).rowcount


def _outbox_size(connection, publisher_id: int) -> int:
    return connection.execute(
        "SELECT count(*) FROM crm_delivery d JOIN crm_crmtarget t ON t.id = d.target_id "
        "WHERE t.publisher_id = %s",
        [publisher_id],
    ).fetchone()[0]


def _second_target(connection, publisher_id: int) -> tuple[int, int]:
    """The publisher's first target and a second one (added if missing)."""
    ids = [
        row[0]
        for row in connection.execute(
            "SELECT id FROM crm_crmtarget WHERE publisher_id = %s ORDER BY id", [publisher_id]
        )
    ]
    if len(ids) < 2:
        _copy(
            connection,
            "crm_crmtarget",
            "SELECT * FROM crm_crmtarget WHERE id = %s",
            {"name": "'Second receiver (HTTPS)'", "created_at": "now()", "updated_at": "now()"},
            [ids[0]],
        )
        return _second_target(connection, publisher_id)
    return ids[0], ids[1]


def _delivery_overrides(*, target: int, event: str) -> dict[str, str]:
    """A copied delivery's columns: its times moved by the source's `shift`, all by one."""
    return {
        "target_id": str(int(target)),
        "event": f"'{event}'",
        "idempotency_key": "gen_random_uuid()",
        "created_at": "src.created_at + src.shift",
        "updated_at": "src.updated_at + src.shift",
        "delivered_at": "src.delivered_at + src.shift",
    }


def deliveries_top_up(connection: psycopg.Connection, *, publisher_id: int, total: int) -> int:
    """Add deliveries until the publisher's outbox holds `total`; returns how many."""
    first, second = _second_target(connection, publisher_id)
    added = 0
    # The second target receives every qualified lead too, a second or two later; then
    # resends to either target, somewhere between the delivery and now (a lead may be
    # resent more than once), until the total is reached.
    rounds = [(second, "lead.qualified", "interval '1 second' + random() * interval '1 second'")]
    resend = 0
    while (missing := total - _outbox_size(connection, publisher_id)) > 0:
        if rounds:
            target, event, shift = rounds.pop()
            once = (
                "AND NOT EXISTS (SELECT 1 FROM crm_delivery o WHERE o.lead_id = d.lead_id "
                f"AND o.target_id = {int(target)} AND o.event = '{event}') "
            )
            connection.execute("ANALYZE crm_delivery")  # the anti-join needs the last rows
        else:
            target, event, shift = (
                (first, second)[resend % 2],
                "lead.updated",
                "random() * (now() - d.created_at)",
            )
            once, resend = "", resend + 1
        source = (
            f"SELECT d.*, {shift} AS shift FROM crm_delivery d "
            f"WHERE d.target_id = %s AND d.event = 'lead.qualified' {once}LIMIT %s"
        )
        overrides = _delivery_overrides(target=target, event=event)
        copied = _copy(connection, "crm_delivery", source, overrides, [first, missing])
        added += copied
        if not copied and not rounds and not once:
            break  # nothing to copy from
    added += _rare_events(connection, first=first, second=second)
    return added


def _rare_events(connection, *, first: int, second: int) -> int:
    """Test leads and settled erasures, once (they are what an event filter looks for)."""
    found = connection.execute(
        "SELECT count(*) FROM crm_delivery WHERE target_id IN (%s, %s) AND event = 'test'",
        [first, second],
    ).fetchone()[0]
    if found:
        return 0
    moved = "now() - random() * interval '90 days'"
    tests = _copy(
        connection,
        "crm_delivery",
        "SELECT * FROM crm_delivery WHERE target_id = %s AND status = 'delivered' "
        f"LIMIT {TEST_DELIVERIES}",
        {
            "lead_id": "NULL",
            "event": "'test'",
            "idempotency_key": "gen_random_uuid()",
            "created_at": moved,
            "updated_at": "now()",
            "delivered_at": "now()",
        },
        [first],
    )
    erasures = _copy(
        connection,
        "crm_delivery",
        "SELECT * FROM crm_delivery WHERE target_id = %s AND event = 'lead.qualified' "
        f"AND status = 'delivered' ORDER BY id DESC LIMIT {ERASURES}",
        {
            "target_id": str(int(second)),
            "event": "'lead.erased'",
            "idempotency_key": "gen_random_uuid()",
            "erasure_mode": "'notify'",
            "outcome": "'notified'",
            "created_at": moved,
            "updated_at": "now()",
            "delivered_at": "now()",
        },
        [first],
    )
    return tests + erasures


def _leads_count(connection, publisher_id: int, origin: str) -> int:
    return connection.execute(
        "SELECT count(*) FROM leads_lead WHERE publisher_id = %s AND origin = %s",
        [publisher_id, origin],
    ).fetchone()[0]


def _leads_copy(connection, *, publisher_id: int, origin: str, total: int, moment: str) -> int:
    """The publisher's leads of `origin` up to `total`: copies cycling through the ones
    there are (copy n of lead n mod count), each with its own uuid and email, created at
    `moment` (SQL over the source row `l`)."""
    existing = _leads_count(connection, publisher_id, origin)
    if not existing or total <= existing:
        return 0
    source = (
        f"SELECT l.*, g.n AS copy_n, {moment} AS moment "
        "FROM (SELECT *, row_number() OVER (ORDER BY id) - 1 AS seq FROM leads_lead "
        "WHERE publisher_id = %s AND origin = %s) l "
        "JOIN generate_series(%s::bigint, %s::bigint) AS g(n) ON l.seq = g.n %% %s"
    )
    prefix = (
        "'c' || src.copy_n || '.' || "
        if origin == "marketplace"
        else "'r' || src.copy_n || '.' || "
    )
    return _copy(
        connection,
        "leads_lead",
        source,
        {
            "uuid": "gen_random_uuid()",
            "email": f"{prefix}src.email",
            "email_normalized": f"{prefix}src.email_normalized",
            "created_at": "src.moment",
            "updated_at": "src.moment",
            "last_activity_at": "src.moment",
            "merged_into_id": "NULL",
        },
        # Copy numbers run on from the count, so a later top-up's emails are new ones too.
        [publisher_id, origin, existing + 1, total, existing],
    )


def leads_top_up(connection: psycopg.Connection, *, publisher_id: int, total: int) -> int:
    """Marketplace leads up to `total`: copies of the seeded ones, at about their times (a
    seed stopped early is topped up this way: seed_demo writes 500 to 1,000 leads a second
    on a loaded machine, these copies far more)."""
    return _leads_copy(
        connection,
        publisher_id=publisher_id,
        origin="marketplace",
        total=total,
        moment="l.created_at + random() * interval '1 hour'",
    )


def referrals_top_up(connection: psycopg.Connection, *, publisher_id: int, total: int) -> int:
    """Co-Sell leads up to `total`, each with a referral; returns the referrals added."""
    _leads_copy(
        connection,
        publisher_id=publisher_id,
        origin="co-sell",
        total=total,
        moment="now() - random() * interval '180 days'",
    )
    return connection.execute(
        """
        INSERT INTO leads_referral (
            created_at, updated_at, publisher_id, lead_id, partner_center_id, engagement_id,
            name, customer_name, customer_need, deal_value, currency, close_date,
            seller_name, seller_email, seller_phone, status, substatus, status_reason,
            referral_type, qualification, direction, pc_created_at, pc_updated_at,
            expires_at, accepted_at, sync_state, pending_change, push_attempts,
            next_push_at, push_error, raw
        )
        SELECT
            l.created_at, l.created_at + random() * (now() - l.created_at), l.publisher_id,
            l.id, l.uuid::text, gen_random_uuid()::text, 'Co-Sell: ' || l.company, l.company,
            'Migration of the customer''s workloads; a joint workshop asked for.',
            CASE WHEN random() < 0.8 THEN round((random() * 500000)::numeric, 2) END, 'USD',
            CASE WHEN random() < 0.7 THEN (l.created_at + random() * interval '240 days')::date
            END,
            'Microsoft seller', 'seller@microsoft.example', '',
            (ARRAY['New', 'Active', 'Active', 'Closed', 'Closed'])[l.pick],
            (ARRAY['Pending', 'Accepted', 'Received', 'Won', 'Lost'])[l.pick],
            '', 'Independent', 'SalesQualified', 'Incoming', l.created_at, l.created_at,
            l.created_at + interval '30 days', NULL, 'synced', '{}', 0, NULL, '', '{}'
        FROM (
            SELECT *, 1 + floor(random() * 5)::int AS pick FROM leads_lead
            WHERE publisher_id = %s AND origin = 'co-sell'
        ) l
        WHERE NOT EXISTS (SELECT 1 FROM leads_referral r WHERE r.lead_id = l.id)
        """,
        [publisher_id],
    ).rowcount
