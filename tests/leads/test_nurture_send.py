"""The nurture sender against a real SMTP server on loopback (aiosmtpd)."""

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.db.models import Max, Min

from leads.models import EmailSend, Enrollment, Suppression
from leads.nurture import outcomes as nurture_outcomes
from leads.nurture import send as nurture_send
from leads.nurture.unsubscribe import email_hash
from tests.leads.nurture_support import POSTAL_ADDRESS, Sequence, enrollment_states, smtp  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def send_all(**kwargs) -> nurture_send.SendReport:
    return nurture_send.nurture_send_due(budget_seconds=120, **kwargs)


def two_senders_at_once() -> list[nurture_send.SendReport]:
    reports: list = [None, None]
    errors: list = []

    def run(index):
        try:
            reports[index] = nurture_send.nurture_send_due(batch_size=50, budget_seconds=120)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert not errors
    return reports


def last_sent_span() -> tuple[datetime, datetime]:
    span = Enrollment.objects.aggregate(first=Min("last_sent_at"), last=Max("last_sent_at"))
    return span["first"], span["last"]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_1000_enrolments_get_each_step_once_with_two_senders_and_none_early(smtp):  # noqa: F811
    with time_machine.travel(T0, tick=True) as clock:
        sequence = Sequence()
        leads = sequence.leads(1000)
        assert sequence.enrol(leads) == 1000

        reports = two_senders_at_once()
        assert sum(r.sent for r in reports) == 1000
        assert all(r.sent > 0 for r in reports)  # both senders took a share
        assert send_all().sent == 0  # nothing else is due yet

        # The clock ticks while 1,000 messages go out (a loaded machine takes minutes):
        # each step falls due its delay after its own enrolment's last send.
        first, last = last_sent_span()
        clock.move_to(first + timedelta(hours=23, minutes=59))
        assert send_all().sent == 0  # step 2 is not due before 24 hours
        clock.move_to(last + timedelta(hours=24, minutes=1))
        assert sum(r.sent for r in two_senders_at_once()) == 1000

        first, last = last_sent_span()
        clock.move_to(first + timedelta(hours=47, minutes=59))
        assert send_all().sent == 0
        clock.move_to(last + timedelta(hours=48, minutes=1))
        assert sum(r.sent for r in two_senders_at_once()) == 1000
        clock.shift(timedelta(days=30))
        assert send_all().sent == 0

    assert len(smtp.received) == 3000
    per_pair = Counter((r.to, sequence.step_of(r)) for r in smtp.received)
    assert set(per_pair.values()) == {1}
    assert len(per_pair) == 3000
    assert enrollment_states() == {"completed": 1000}
    assert EmailSend.objects.filter(status="sent").count() == 3000


def test_a_sender_killed_mid_batch_resumes_without_a_duplicate(smtp, monkeypatch):  # noqa: F811
    with time_machine.travel(T0, tick=True):
        sequence = Sequence(delays=(0,))
        sequence.enrol(sequence.leads(30))
        real_deliver = nurture_send.smtp_deliver
        calls = {"n": 0}

        def dies_after_twelve(connection, message):
            if calls["n"] == 12:
                raise SystemExit("worker killed")
            calls["n"] += 1
            return real_deliver(connection, message)

        monkeypatch.setattr(nurture_send, "smtp_deliver", dies_after_twelve)
        with pytest.raises(SystemExit):
            send_all(batch_size=20)
        assert len(smtp.received) == 12
        monkeypatch.setattr(nurture_send, "smtp_deliver", real_deliver)

        report = send_all(batch_size=20)

    # The 13th row was committed as `sending` before the kill: at most once, not resent.
    assert report.sent == 17
    assert report.interrupted == 1
    assert len(smtp.received) == 29
    assert len({r.to for r in smtp.received}) == 29
    assert EmailSend.objects.filter(status="interrupted").count() == 1
    assert enrollment_states() == {"completed": 30}


def test_a_stale_sending_row_is_never_sent_again(smtp):  # noqa: F811
    with time_machine.travel(T0, tick=True) as clock:
        sequence = Sequence(delays=(0, 24))
        (lead,) = sequence.leads(1)
        sequence.enrol([lead])
        enrollment = Enrollment.objects.get()
        # A sender committed the row, then died before recording the SMTP answer.
        EmailSend.objects.create(enrollment=enrollment, step=sequence.steps[0])

        assert send_all().sent == 0
        clock.shift(timedelta(hours=25))
        assert send_all().sent == 1

    assert [sequence.step_of(r) for r in smtp.received] == [2]
    assert EmailSend.objects.get(step=sequence.steps[0]).status == "interrupted"


def test_a_dead_senders_rows_are_settled_once_its_short_lease_runs_out(smtp):  # noqa: F811
    with time_machine.travel(T0, tick=True) as clock:
        sequence = Sequence(delays=(0, 24))
        leads = sequence.leads(3)
        sequence.enrol(leads)
        claimed = nurture_send.enrollments_claim(batch_size=10)
        # The sender committed the first row as `sending`, then was SIGKILLed.
        first = Enrollment.objects.get(pk=claimed[0])
        EmailSend.objects.create(enrollment=first, step=sequence.steps[0])

        assert nurture_send.nurture_interrupted_settle().interrupted == 0  # still leased
        clock.shift(nurture_send.LEASE + timedelta(seconds=1))
        report = nurture_send.nurture_interrupted_settle()

    assert report.interrupted == 1
    assert smtp.received == []  # at most once: the interrupted step is never resent
    assert EmailSend.objects.get().status == "interrupted"
    first.refresh_from_db()
    assert first.last_position == 1  # moved on to step 2, a day after the settling
    assert T0 < first.next_send_at - timedelta(hours=24) < T0 + timedelta(minutes=1)
    # The enrolments the dead sender had not reached wait for the regular sender.
    assert Enrollment.objects.filter(last_position=0).count() == 2


def test_a_stopping_sender_finishes_its_message_and_gives_back_the_rest(smtp, monkeypatch):  # noqa: F811
    real_deliver = nurture_send.smtp_deliver

    def sigterm_during_the_first(connection, message):
        nurture_send.stopping.set()  # a deploy's SIGTERM, while the message is in flight
        return real_deliver(connection, message)

    monkeypatch.setattr(nurture_send, "smtp_deliver", sigterm_during_the_first)
    try:
        with time_machine.travel(T0, tick=True):
            sequence = Sequence(delays=(0,))
            sequence.enrol(sequence.leads(5))
            report = send_all()
            released = Enrollment.objects.filter(
                last_position=0, next_send_at__lte=T0 + timedelta(seconds=5)
            )
            assert released.count() == 4  # due again at once, for the next worker
    finally:
        nurture_send.stopping.clear()

    assert report.sent == 1
    assert len(smtp.received) == 1
    assert not EmailSend.objects.exclude(status="sent").exists()


def test_every_message_carries_the_unsubscribe_headers_link_and_postal_address(smtp):  # noqa: F811
    with time_machine.travel(T0, tick=True):
        sequence = Sequence(delays=(0,))
        sequence.enrol(sequence.leads(5))
        send_all()

    assert len(smtp.received) == 5
    for received in smtp.received:
        message = received.message
        (header,) = message.get_all("List-Unsubscribe")
        assert header.startswith("<https://portal.test/unsubscribe/") and header.endswith("/>")
        url = header[1:-1]
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert str(message["From"]) == "Contoso <nurture@portal.test>"
        assert str(message["Reply-To"]) == "sales@contoso.example"
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        assert url in text
        assert f'href="{url}"' in html
        for line in POSTAL_ADDRESS.splitlines():
            assert line in text
            assert line in html
        assert "Contoso CRM" in text  # {offer_title}


def test_no_consent_means_no_message_over_the_whole_sequence(smtp):  # noqa: F811
    with time_machine.travel(T0, tick=True) as clock:
        sequence = Sequence()
        refused = sequence.leads(3, consent=False, prefix="noconsent")
        consenting = sequence.leads(2, prefix="withdrawn")
        assert sequence.enrol(refused + consenting) == 2
        consenting[0].marketing_consent = False  # withdrawn after enrolment
        consenting[0].save(update_fields=["marketing_consent"])
        for _ in range(4):
            send_all()
            clock.shift(timedelta(days=2))

    assert {r.to for r in smtp.received} == {"withdrawn1@customer.example"}
    assert Enrollment.objects.get(lead=consenting[0]).stop_reason == "no-consent"


def test_a_suppressed_address_gets_no_message(smtp):  # noqa: F811
    with time_machine.travel(T0, tick=True) as clock:
        sequence = Sequence()
        before, after = sequence.leads(2, prefix="suppressed")
        Suppression.objects.create(
            publisher=sequence.publisher,
            email_hash=email_hash(before.email),
            reason="unsubscribed",
        )
        assert sequence.enrol([before, after]) == 1  # the suppressed one is not enrolled
        Suppression.objects.create(
            publisher=sequence.publisher, email_hash=email_hash(after.email), reason="complained"
        )
        for _ in range(4):
            send_all()
            clock.shift(timedelta(days=2))

    assert smtp.received == []
    assert Enrollment.objects.get().stop_reason == "suppressed"


def test_a_550_suppresses_the_address_as_bounced_and_stops(smtp):  # noqa: F811
    with time_machine.travel(T0, tick=True) as clock:
        sequence = Sequence()
        bad, good = sequence.leads(2, prefix="bounce")
        sequence.enrol([bad, good])
        smtp.answers[bad.email] = "550 5.1.1 No such user"
        report = send_all()
        clock.shift(timedelta(days=5))
        send_all()
        send_all()

    assert report.bounced == 1
    assert {r.to for r in smtp.received} == {good.email}
    assert len(smtp.received) == 2  # good got steps 1 and 2 (step 3 is due at 72 h)
    suppression = Suppression.objects.get()
    assert (suppression.reason, suppression.email_hash) == ("bounced", email_hash(bad.email))
    bounced = Enrollment.objects.get(lead=bad)
    assert (bounced.state, bounced.stop_reason) == ("stopped", "bounced")
    send = EmailSend.objects.get(enrollment=bounced)
    assert (send.status, send.smtp_code) == ("bounced", 550)


def test_a_451_is_retried_later_and_then_sent(smtp):  # noqa: F811
    with time_machine.travel(T0, tick=True) as clock:
        sequence = Sequence(delays=(0,))
        (lead,) = sequence.leads(1)
        sequence.enrol([lead])
        smtp.answers[lead.email] = "451 4.7.1 Try again later"
        assert send_all().deferred == 1
        clock.shift(timedelta(minutes=10))
        assert send_all().deferred == 0  # the backoff is 15 minutes
        del smtp.answers[lead.email]
        clock.shift(timedelta(minutes=6))
        assert send_all().sent == 1

    assert len(smtp.received) == 1
    send = EmailSend.objects.get()
    assert (send.status, send.attempts) == ("sent", 2)
    assert not Suppression.objects.exists()


def test_five_temporary_failures_suppress_the_address(smtp):  # noqa: F811
    with time_machine.travel(T0, tick=True) as clock:
        sequence = Sequence(delays=(0,))
        (lead,) = sequence.leads(1)
        sequence.enrol([lead])
        smtp.answers[lead.email] = "452 4.2.2 Mailbox full"
        for _ in range(nurture_outcomes.MAX_SOFT_FAILURES):
            send_all()
            clock.shift(timedelta(days=1))
        send_all()

    assert smtp.received == []
    assert EmailSend.objects.get().attempts == nurture_outcomes.MAX_SOFT_FAILURES
    assert Suppression.objects.get().reason == "bounced"
    assert Enrollment.objects.get().stop_reason == "bounced"


def test_markup_in_a_leads_name_is_escaped_in_the_html_part(smtp):  # noqa: F811
    with time_machine.travel(T0, tick=True):
        sequence = Sequence(delays=(0,))
        leads = sequence.leads(1, first_name='<script>alert("x")</script>')
        sequence.enrol(leads)
        send_all()

    message = smtp.received[0].message
    html = message.get_body(("html",)).get_content()
    assert "<script>" not in html
    assert '&lt;script&gt;alert("x")&lt;/script&gt;' in html
    assert '<script>alert("x")</script>' in message.get_body(("plain",)).get_content()


def test_without_a_postal_address_nothing_is_sent(smtp):  # noqa: F811
    with time_machine.travel(T0, tick=True):
        sequence = Sequence(delays=(0,))
        sequence.enrol(sequence.leads(2))
        sequence.publisher.postal_address = ""
        sequence.publisher.save(update_fields=["postal_address"])
        send_all()

    assert smtp.received == []
    assert enrollment_states() == {"active": 2}


def test_a_paused_sequence_sends_nothing_until_it_runs_again(smtp):  # noqa: F811
    from leads.nurture import services as nurture

    with time_machine.travel(T0, tick=True):
        sequence = Sequence(delays=(0,))
        sequence.enrol(sequence.leads(2))
        nurture.sequence_pause(campaign=sequence.campaign)
        assert send_all().sent == 0
        nurture.sequence_start(campaign=sequence.campaign)
        assert send_all().sent == 2
    assert len(smtp.received) == 2


def test_the_daily_cap_holds_the_rest_until_midnight_utc(smtp):  # noqa: F811
    with time_machine.travel(T0, tick=False) as clock:
        sequence = Sequence(delays=(0,), nurture_daily_cap=2)
        sequence.enrol(sequence.leads(5))

        first = send_all()
        clock.move_to(T0 + timedelta(hours=14, minutes=59))  # 23:59 UTC, still the same day
        later = send_all()
        held = set(Enrollment.objects.filter(state="active").values_list("next_send_at", flat=True))
        clock.move_to(datetime(2026, 11, 3, 0, 0, 1, tzinfo=UTC))
        next_day = send_all()
        clock.move_to(datetime(2026, 11, 4, 0, 0, 1, tzinfo=UTC))
        last_day = send_all()

    assert (first.sent, first.capped) == (2, 3)
    assert later.sent == 0  # the capped enrolments are not due before midnight
    assert held == {datetime(2026, 11, 3, tzinfo=UTC)}
    assert (next_day.sent, next_day.capped) == (2, 1)
    assert (last_day.sent, last_day.capped) == (1, 0)
    assert len(smtp.received) == 5


def test_the_daily_cap_is_per_publisher(smtp):  # noqa: F811
    with time_machine.travel(T0, tick=False):
        capped = Sequence(delays=(0,), nurture_daily_cap=1)
        free = Sequence(delays=(0,))
        capped.enrol(capped.leads(3, prefix="capped"))
        free.enrol(free.leads(3, prefix="free"))
        report = send_all()

    assert (report.sent, report.capped) == (4, 2)
    assert Counter(r.to.split("@")[0].rstrip("0123456789") for r in smtp.received) == {
        "capped": 1,
        "free": 3,
    }


def test_outside_the_send_window_messages_wait_for_it_in_the_publishers_time_zone(smtp):  # noqa: F811
    # 09:00 UTC is 10:00 in Madrid (CET); the window is 14:00–18:00 Madrid time
    with time_machine.travel(T0, tick=False) as clock:
        sequence = Sequence(
            delays=(0,), time_zone="Europe/Madrid", send_window_start=14, send_window_end=18
        )
        sequence.enrol(sequence.leads(2))

        early = send_all()
        waiting = set(Enrollment.objects.values_list("next_send_at", flat=True))
        clock.move_to(datetime(2026, 11, 2, 13, 0, 1, tzinfo=UTC))  # 14:00:01 in Madrid
        inside = send_all()

    assert (early.sent, early.outside_window) == (0, 2)
    assert waiting == {datetime(2026, 11, 2, 13, 0, tzinfo=UTC)}
    assert inside.sent == 2


def test_a_window_across_midnight_opens_the_next_evening(smtp):  # noqa: F811
    with time_machine.travel(T0, tick=False):  # 09:00 UTC, outside 22–6
        sequence = Sequence(delays=(0,), send_window_start=22, send_window_end=6)
        sequence.enrol(sequence.leads(1))
        report = send_all()

    assert (report.sent, report.outside_window) == (0, 1)
    assert Enrollment.objects.get().next_send_at == datetime(2026, 11, 2, 22, 0, tzinfo=UTC)
