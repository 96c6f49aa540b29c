"""The nurture sender's overlap (leads.nurture.overlap): each message's envelope goes while its
`sending` row commits, its data only after, and the next row only after its answer."""

from datetime import UTC, datetime

import psycopg
import pytest
import time_machine
from django.db import connection

from leads.models import EmailSend, Enrollment
from leads.nurture import rows, unsubscribe
from leads.nurture import send as nurture_send
from tests.leads.nurture_support import (
    RecordingHandler,
    Sequence,
    enrollment_states,
    smtp,  # noqa: F401
    smtp_serving,
)

pytestmark = [pytest.mark.django_db]

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


class RowsAtData(RecordingHandler):
    """Counts, at each end of data, the send rows committed (read on a connection of its own),
    and the envelopes begun (RCPT)."""

    def __init__(self, settings_dict: dict):
        super().__init__()
        self.settings_dict = settings_dict
        self.rows_at_data: list[int] = []
        self.envelopes: list[str] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.envelopes.append(address)
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server, session, envelope):
        database = self.settings_dict
        with psycopg.connect(
            dbname=database["NAME"],
            user=database["USER"] or None,
            host=database["HOST"] or None,
            port=database["PORT"] or None,
            password=database["PASSWORD"] or None,
        ) as reader:
            (count,) = reader.execute("SELECT count(*) FROM leads_emailsend").fetchone()
        self.rows_at_data.append(count)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def counting_smtp(settings):
    with smtp_serving(settings, RowsAtData(connection.settings_dict)) as handler:
        yield handler


@pytest.mark.django_db(transaction=True)
def test_each_messages_data_follows_its_row_and_precedes_the_next_row(counting_smtp):
    with time_machine.travel(T0, tick=True):
        sequence = Sequence(delays=(0,))
        sequence.enrol(sequence.leads(6))
        report = nurture_send.nurture_send_due(batch_size=10, budget_seconds=120)

    assert report.sent == 6
    # At the k-th message's end of data the server sees k rows: its own (committed before
    # its data) and no later one (committed only after this message's answer).
    assert counting_smtp.rows_at_data == [1, 2, 3, 4, 5, 6]
    assert len({r.to for r in counting_smtp.received}) == 6


def test_a_sender_killed_between_an_envelope_and_its_row_loses_nothing(counting_smtp, monkeypatch):
    real_insert, calls = rows.row_insert, {"n": 0}

    def dies_at_the_fifth(row):
        calls["n"] += 1
        if calls["n"] == 5:
            raise SystemExit("worker killed")  # the 5th envelope is out, its row not written
        return real_insert(row)

    monkeypatch.setattr(rows, "row_insert", dies_at_the_fifth)
    with time_machine.travel(T0, tick=True):
        sequence = Sequence(delays=(0,))
        sequence.enrol(sequence.leads(8))
        with pytest.raises(SystemExit):
            nurture_send.nurture_send_due(budget_seconds=120)
        assert len(counting_smtp.envelopes) == 5
        assert len(counting_smtp.received) == 4  # the 5th got no data: nothing delivered
        assert EmailSend.objects.count() == 4
        monkeypatch.setattr(rows, "row_insert", real_insert)

        report = nurture_send.nurture_send_due(budget_seconds=120)

    # No row, so nothing was at risk: the 5th step goes now, once.
    assert report.sent == 4 and report.interrupted == 0
    assert len(counting_smtp.received) == 8
    assert len({r.to for r in counting_smtp.received}) == 8
    assert enrollment_states() == {"completed": 8}


def test_a_row_written_meanwhile_by_another_run_resets_the_envelope(smtp, monkeypatch):  # noqa: F811
    with time_machine.travel(T0, tick=True):
        sequence = Sequence(delays=(0,))
        sequence.enrol(sequence.leads(4))
        enrollments = list(sequence.campaign.enrollments.order_by("pk"))
        # Another sender wrote the second enrolment's row after this batch looked (it left
        # it `sending`): the INSERT finds it, the envelope is reset, the step is not resent.
        EmailSend.objects.create(enrollment=enrollments[1], step=sequence.steps[0])
        monkeypatch.setattr(rows, "rows_existing", lambda ids: set())
        report = nurture_send.nurture_send_due(budget_seconds=120)

    assert report.sent == 3 and report.interrupted == 1
    assert sorted(r.to for r in smtp.received) == sorted(
        e.lead.email for e in enrollments if e != enrollments[1]
    )
    assert EmailSend.objects.get(enrollment=enrollments[1]).status == "interrupted"


def test_a_message_that_cannot_be_built_gets_its_row_first_as_before(smtp, monkeypatch):  # noqa: F811
    real_url = unsubscribe.unsubscribe_url

    def fails_for_the_third(*, email, **kwargs):
        if email.startswith("lead2@"):
            raise ValueError("cannot build")
        return real_url(email=email, **kwargs)

    monkeypatch.setattr(unsubscribe, "unsubscribe_url", fails_for_the_third)
    with time_machine.travel(T0, tick=True):
        sequence = Sequence(delays=(0,))
        sequence.enrol(sequence.leads(5))
        with pytest.raises(ValueError):
            nurture_send.nurture_send_due(budget_seconds=120)

    order = [e.lead.email for e in Enrollment.objects.select_related("lead").order_by("pk")]
    ahead = order[: order.index("lead2@customer.example")]
    # The messages ahead of it went (its build failing while the one before was on the wire
    # cost nothing); its own row was written before the error, so it is settled, never
    # retried in a loop.
    assert sorted(r.to for r in smtp.received) == sorted(ahead)
    statuses = dict(EmailSend.objects.values_list("enrollment__lead__email", "status"))
    assert statuses == {**dict.fromkeys(ahead, "sent"), "lead2@customer.example": "sending"}
