"""The nurture sender's batch costs: one claim statement, templates compiled once a batch,
one SMTP connection a batch, and outcomes recorded set-wise (docs/benchmarks.md, Nurture)."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from aiosmtpd.controller import Controller
from django.db import connection
from django.utils import timezone

from leads.lifecycle.snapshot import LeadSnapshot
from leads.models import EmailSend, Enrollment, NurtureSequence
from leads.nurture import markup, outcomes, render
from leads.nurture import send as nurture_send
from leads.nurture.claim import LEASE, enrollments_claim
from tests.leads.nurture_support import RecordingHandler, Sequence, free_port, smtp  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
BODY = "Hi **{first_name}** of {company},\n\n[Unsubscribe]({unsubscribe_url}) or {unsubscribe_url}"


def recipient(first_name: str, n: int = 0) -> render.Recipient:
    return render.Recipient(
        lead=LeadSnapshot(
            lead_id=str(n),
            first_name=first_name,
            last_name="Example",
            email=f"lead{n}@customer.example",
            company=f"Company {n} & Sons",
        ),
        publisher_name="Contoso",
        postal_address="1 Microsoft Way\nRedmond",
        reply_to="sales@contoso.example",
        offer_title="Contoso CRM",
    )


def parts(message) -> tuple[str, str, str]:
    return message.subject, message.body, message.alternatives[0].content


def test_a_compiled_step_gives_each_lead_the_message_a_fresh_render_gives():
    template = render.StepTemplate("Hello {first_name}", BODY)
    url = "https://portal.test/u/a&b/"
    for n, name in enumerate(["Zoë", "<b>Bold</b>", "ph0000x1x", "Ana"]):
        compiled = template.message(recipient=recipient(name, n), unsubscribe_url=url)
        fresh = render.StepTemplate("Hello {first_name}", BODY).message(
            recipient=recipient(name, n), unsubscribe_url=url
        )
        assert parts(compiled) == parts(fresh)
        assert compiled.to == [f"lead{n}@customer.example"]
    subject, text, html = parts(compiled)
    assert subject == "Hello Ana"
    assert "Hi **Ana** of Company 3 & Sons" in text and f"Unsubscribe: {url}" in text
    assert "<strong>Ana</strong> of Company 3 &amp; Sons" in html
    assert html.count('href="https://portal.test/u/a&amp;b/"') == 3  # two in the body, footer


def test_values_stay_escaped_in_the_html_and_plain_in_the_text():
    template = render.StepTemplate("Hi {first_name}", BODY)
    template.message(recipient=recipient("First"), unsubscribe_url="https://portal.test/u/1/")
    message = template.message(
        recipient=recipient("<script>x</script>[a](javascript:alert(1))", 1),
        unsubscribe_url="https://portal.test/u/2/",
    )
    _subject, text, html = parts(message)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "javascript:" not in html.replace("[a](javascript:alert(1))", "")
    assert 'href="javascript' not in html
    assert "<script>x</script>" in text
    assert "First" not in html + text  # nothing of the earlier lead stays


def test_the_markdown_and_wrapper_are_rendered_once_a_batch(smtp, monkeypatch):  # noqa: F811
    calls = {"markdown": 0, "wrapper": 0}
    markdown_render, wrapper_render = markup._MARKDOWN.render, render.render_to_string

    def counted_markdown(source):
        calls["markdown"] += 1
        return markdown_render(source)

    def counted_wrapper(*args, **kwargs):
        calls["wrapper"] += 1
        return wrapper_render(*args, **kwargs)

    monkeypatch.setattr(markup._MARKDOWN, "render", counted_markdown)
    monkeypatch.setattr(render, "render_to_string", counted_wrapper)
    with time_machine.travel(T0, tick=True):
        sequence = Sequence(delays=(0,))
        sequence.enrol(sequence.leads(6))
        report = nurture_send.nurture_send_due(batch_size=3, budget_seconds=120)

    assert report.sent == 6 and len(smtp.received) == 6
    assert calls == {"markdown": 2, "wrapper": 4}  # two batches: one body, text + HTML


class SessionHandler(RecordingHandler):
    """Also records the client's address of each message: one per TCP connection."""

    def __init__(self):
        super().__init__()
        self.peers: list = []

    async def handle_DATA(self, server, session, envelope):
        self.peers.append(session.peer)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def smtp_sessions(settings):
    """A loopback SMTP server that records which connection carried each message."""
    handler = SessionHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": controller.port, "timeout": 10},
        }
    }
    try:
        yield handler
    finally:
        controller.stop()


def test_one_smtp_connection_carries_a_whole_batch(smtp_sessions):
    with time_machine.travel(T0, tick=True):
        sequence = Sequence(delays=(0,))
        sequence.enrol(sequence.leads(8))
        report = nurture_send.nurture_send_due(batch_size=4, budget_seconds=120)

    assert report.sent == 8 and len(smtp_sessions.received) == 8
    assert len(set(smtp_sessions.peers)) == 2  # two batches of four, one connection each


def claimable() -> Sequence:
    sequence = Sequence(delays=(0, 24))
    sequence.enrol(sequence.leads(5))
    return sequence


def test_the_claim_is_one_statement_and_leases_the_oldest_due(django_assert_max_num_queries):
    with time_machine.travel(T0, tick=False):
        sequence = claimable()
        ids = list(Enrollment.objects.order_by("pk").values_list("pk", flat=True))
        Enrollment.objects.filter(pk=ids[0]).update(next_send_at=T0 + timedelta(hours=1))
        Enrollment.objects.filter(pk=ids[1]).update(state=Enrollment.State.STOPPED)
        with django_assert_max_num_queries(1 if connection.vendor == "postgresql" else 4):
            claimed = enrollments_claim(batch_size=2)
        assert claimed == ids[2:4]  # ascending, the not-yet-due and the stopped skipped
        assert enrollments_claim(batch_size=10) == ids[4:]  # the leased ones are skipped
        leased = Enrollment.objects.filter(pk__in=ids[2:]).values_list("next_send_at", flat=True)
        assert set(leased) == {T0 + LEASE}
        NurtureSequence.objects.filter(campaign=sequence.campaign).update(
            status=NurtureSequence.Status.PAUSED
        )
    with time_machine.travel(T0 + LEASE + timedelta(seconds=1), tick=False):
        assert enrollments_claim(batch_size=10) == []  # a paused sequence sends nothing


def test_the_interrupted_claim_takes_only_enrolments_with_a_sending_row():
    with time_machine.travel(T0, tick=False):
        sequence = claimable()
        first, second = Enrollment.objects.order_by("pk")[:2]
        EmailSend.objects.create(enrollment=first, step=sequence.steps[0])
        EmailSend.objects.create(
            enrollment=second, step=sequence.steps[0], status=EmailSend.Status.SENT
        )
        assert enrollments_claim(batch_size=10, interrupted_only=True) == [first.pk]


def deferred_outcomes(count: int) -> outcomes.Outcomes:
    sequence = Sequence(delays=(0,))
    sequence.enrol(sequence.leads(count, prefix=f"d{count}-"))
    out = outcomes.Outcomes()
    enrollments = Enrollment.objects.filter(campaign=sequence.campaign).select_related(
        "lead", "campaign"
    )
    for n, enrollment in enumerate(enrollments):
        enrollment.soft_failures = n % 3
        row = EmailSend.objects.create(enrollment=enrollment, step=sequence.steps[0])
        out.deferred.append((enrollment, row, 451, f"4.7.1 busy {n}"))
    return out


@pytest.mark.parametrize("count", [2, 12])
def test_deferred_outcomes_cost_the_same_statements_for_any_batch(
    count, django_assert_max_num_queries
):
    out = deferred_outcomes(count)
    now = timezone.now()
    report = outcomes.SendReport()
    with django_assert_max_num_queries(2):
        outcomes.outcomes_record(out, {}, now, report)

    assert report.deferred == count
    for enrollment, row, _code, error in out.deferred:
        row.refresh_from_db()
        assert (row.status, row.smtp_code, row.error) == ("deferred", 451, error)
        stored = Enrollment.objects.get(pk=enrollment.pk)
        failures = enrollment.soft_failures + 1
        assert stored.soft_failures == failures
        backoff = outcomes.SOFT_BACKOFF[min(failures - 1, len(outcomes.SOFT_BACKOFF) - 1)]
        assert stored.next_send_at == now + backoff


def synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@pytest.mark.no_sqlite
@pytest.mark.parametrize("dies", [False, True])
def test_the_sending_rows_commit_unflushed_and_the_session_is_restored(smtp, monkeypatch, dies):  # noqa: F811
    real_deliver, seen = nurture_send.smtp_deliver, []

    def deliver(mailer, message):
        seen.append(synchronous_commit())
        if dies and len(seen) == 2:
            raise SystemExit("worker killed")
        return real_deliver(mailer, message)

    monkeypatch.setattr(nurture_send, "smtp_deliver", deliver)
    before = synchronous_commit()
    with time_machine.travel(T0, tick=True):
        sequence = Sequence(delays=(0,))
        sequence.enrol(sequence.leads(3))
        if dies:
            with pytest.raises(SystemExit):
                nurture_send.nurture_send_due(budget_seconds=120)
        else:
            assert nurture_send.nurture_send_due(budget_seconds=120).sent == 3

    assert before == "on" and seen == (["off", "off"] if dies else ["off", "off", "off"])
    assert synchronous_commit() == before  # the outcomes, and all after, wait for the flush
    assert len(smtp.received) == (1 if dies else 3)
