"""New-lead email (leads.notifications) through a real SMTP server on loopback."""

import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from leads.intake import api_keys
from leads.models import ApiKey, LeadNotification, NotificationEmail
from leads.notifications import send as notifications_send
from leads.notifications import services
from tests.factories import make_membership, make_user
from tests.leads.conftest import FAQ_TEST_LEAD, lead_payload
from tests.leads.notification_support import Newsroom, raw_text, worker_run
from tests.leads.nurture_support import smtp  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def choose(membership, mode, *, listings=None, hour=8, time_zone="UTC", language="en"):
    return services.notification_preference_save(
        membership=membership,
        mode=mode,
        all_listings=listings is None,
        listings=listings or [],
        digest_hour=hour,
        time_zone=time_zone,
        language=language,
    )


def test_an_owner_gets_one_email_per_batch_with_name_and_company_only(smtp):  # noqa: F811
    # Given a publisher with an accented name, and two leads that arrived
    news = Newsroom(publisher_name="Contoso Ñandú")
    first = news.lead(1, first="José", last="Núñez", company="Añil S.A.")
    second = news.lead(2, offer_id="contoso.analytics")

    # When the worker runs
    worker_run()

    # Then the owner (immediate by default) has one email, the member (off) none
    assert [r.to for r in smtp.received] == ["owner@contoso.example"]
    (received,) = smtp.received
    raw = received.raw
    message = received.message
    assert message["Subject"] == "Contoso Ñandú: 2 new leads"
    # RFC 2047: the headers are ASCII, the accented words encoded
    headers = raw.split(b"\r\n\r\n", 1)[0]
    assert headers.isascii()
    assert b"Subject: Contoso =?utf-8?" in headers
    assert message["From"] == "Contoso Ñandú <nurture@portal.test>"
    assert message["Auto-Submitted"] == "auto-generated"
    text = raw_text(received)
    assert "José Núñez, Añil S.A." in text
    assert "Person2 Example, Customer 2 Ltd" in text
    assert "Contoso CRM · Install / get it now · " in text
    assert "Contoso Analytics · Install / get it now · " in text
    pid = news.publisher.pk
    assert f"https://portal.test/publisher/{pid}/leads/{first.uuid}/" in text
    assert f"https://portal.test/publisher/{pid}/leads/{second.uuid}/" in text
    # ... and nothing personal beyond the name and company, in any part
    for private in ("person1@customer.example", "7946", "Head of secrets", "Wants a demo"):
        assert private not in text
        assert private.encode() not in raw
    assert NotificationEmail.objects.get().status == "sent"


def test_a_single_lead_names_the_person_in_the_subject(smtp):  # noqa: F811
    news = Newsroom()
    news.lead(1, first="Zoë", last="Ødegård", company="Fjord AS")

    worker_run()

    (received,) = smtp.received
    assert received.message["Subject"] == "New lead for Contoso: Zoë Ødegård, Fjord AS"


def test_a_test_lead_is_marked_in_subject_and_body(smtp):  # noqa: F811
    news = Newsroom()
    response = news.post(FAQ_TEST_LEAD)
    assert response.status_code == 201

    worker_run()

    (received,) = smtp.received
    assert received.message["Subject"].startswith("[Test] New lead for Contoso: MSFT_TEST_")
    assert "[TEST LEAD] MSFT_TEST_636573304831318844" in raw_text(received)


def test_a_mixed_batch_counts_its_test_leads(smtp):  # noqa: F811
    news = Newsroom()
    news.lead(1)
    news.post(FAQ_TEST_LEAD)

    worker_run()

    assert smtp.received[0].message["Subject"] == "Contoso: 2 new leads (1 test lead)"


def test_a_big_batch_lists_the_first_leads_and_counts_the_rest(smtp, settings):  # noqa: F811
    settings.LEAD_NOTIFY_MAX_LISTED = 2
    news = Newsroom()
    for n in range(5):
        news.lead(n)

    worker_run()

    (received,) = smtp.received
    text = raw_text(received)
    assert received.message["Subject"] == "Contoso: 5 new leads"
    assert text.count("https://portal.test/publisher/") == 4  # 2 leads × (text + HTML)
    assert "…and 3 more. All leads: https://portal.test/leads/" in text
    assert set(LeadNotification.objects.values_list("email__status", flat=True)) == {"sent"}


def test_a_rerun_sends_nothing_twice(smtp):  # noqa: F811
    news = Newsroom()
    news.lead(1)
    worker_run()

    worker_run()
    news.lead(2)
    worker_run()

    subjects = [r.message["Subject"] for r in smtp.received]
    assert subjects == [
        "New lead for Contoso: Person1 Example, Customer 1 Ltd",
        "New lead for Contoso: Person2 Example, Customer 2 Ltd",
    ]
    assert LeadNotification.objects.count() == 2


def test_members_choices_and_listing_subsets_are_respected(smtp):  # noqa: F811
    # Given the owner wants none, and the member only the Analytics listing
    news = Newsroom()
    choose(news.owner, "off")
    choose(news.member, "immediate", listings=[news.azure_other])

    # When leads arrive on two listings
    news.lead(1)
    news.lead(2, offer_id="contoso.analytics")
    worker_run()

    # Then only the member is mailed, of the Analytics lead only
    (received,) = smtp.received
    assert received.to == "member@contoso.example"
    text = raw_text(received)
    assert "Person2 Example" in text
    assert "Person1 Example" not in text


def test_another_publishers_member_is_never_mailed(smtp):  # noqa: F811
    # Given a second publisher whose owner also belongs to nothing else
    news = Newsroom()
    other = make_membership(user=make_user(email="rival@fabrikam.example"))

    news.lead(1)
    worker_run()

    assert [r.to for r in smtp.received] == ["owner@contoso.example"]
    assert not LeadNotification.objects.filter(membership=other).exists()


def test_the_daily_digest_waits_for_its_hour_in_the_members_time_zone(smtp):  # noqa: F811
    # Given a member who wants a digest at 08:00 in Madrid (07:00 UTC in winter)
    news = Newsroom()
    choose(news.owner, "off")
    choose(news.member, "digest", hour=8, time_zone="Europe/Madrid", language="es")
    with time_machine.travel(datetime(2026, 12, 7, 15, 0, tzinfo=UTC), tick=False):
        news.lead(1)
        news.lead(2)
        worker_run()
    assert smtp.received == []  # not before the hour

    # When the worker runs after 07:00 UTC the next day
    with time_machine.travel(datetime(2026, 12, 8, 7, 0, 30, tzinfo=UTC), tick=False):
        worker_run()
        worker_run()

    # Then one digest, in Spanish, with the times in the member's zone
    (received,) = smtp.received
    assert received.to == "member@contoso.example"
    assert received.message["Subject"] == "Resumen diario de Contoso: 2 nuevos leads"
    assert "2026-12-07 16:00 (Europe/Madrid)" in raw_text(received)
    assert NotificationEmail.objects.get().kind == "digest"


def test_a_worker_that_was_down_catches_up_without_loss(smtp, tmp_path):  # noqa: F811
    # Given leads that arrived while no worker ran: the API, a CSV import, a referral
    news = Newsroom()
    news.lead(1)
    csv = tmp_path / "leads.csv"
    csv.write_text(
        "Email,First Name,Last Name,Company,Offer Id\n"
        "cy@customer.example,Cy,Ng,Imported Ltd,contoso.analytics\n"
    )
    call_command("import_leads", str(csv), "--publisher", news.publisher.slug)
    news.publisher.co_sell_enrolled = True
    news.publisher.save()
    _id, seller_key = api_keys.api_key_create(kind=ApiKey.Kind.MICROSOFT_SELLER, name="sellers")
    referral = lead_payload(email="dee@customer.example", OfferId="contoso.analytics")
    referral["ReferralId"] = "ref-1"
    assert news.post(referral, key=seller_key, path="/api/v1/referrals").status_code == 201

    # When a worker is back
    worker_run()

    # Then one email announces all three
    (received,) = smtp.received
    assert received.message["Subject"] == "Contoso: 3 new leads"
    text = raw_text(received)
    assert "Cy Ng, Imported Ltd" in text
    assert "Contoso Analytics · Co-Sell referral · " in text


def test_planning_costs_the_same_for_one_lead_or_many(django_assert_max_num_queries):
    news = Newsroom()
    for n in range(25):
        news.lead(n)

    with django_assert_max_num_queries(7):
        assert services.notifications_plan() == 25

    assert LeadNotification.objects.filter(membership=news.owner).count() == 25


def test_a_new_choice_reschedules_the_waiting_notifications(smtp):  # noqa: F811
    # Given a member's digest that is waiting for tomorrow morning
    news = Newsroom()
    choose(news.owner, "off")
    choose(news.member, "digest")
    news.lead(1)
    services.notifications_plan()
    assert smtp.received == []

    # When they switch to an email as leads arrive
    choose(news.member, "immediate")
    worker_run()

    # Then the waiting lead goes out now, once
    assert [r.to for r in smtp.received] == ["member@contoso.example"]
    assert NotificationEmail.objects.get().kind == "immediate"


def test_an_unreachable_smtp_server_defers_and_then_sends_the_same_leads(smtp, settings):  # noqa: F811
    # Given a lead for two members, and a mail server that cannot be reached
    news = Newsroom()
    choose(news.member, "immediate")
    news.lead(1)
    working = settings.MAILERS
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": 1, "timeout": 2},
        }
    }
    worker_run()
    states = NotificationEmail.objects.order_by("pk").values_list("status", "attempts")
    assert list(states) == [("deferred", 0), ("deferred", 0)]

    # When the server is back and the retry time has come
    settings.MAILERS = working
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=2)):
        worker_run()

    # Then the same emails went out, once each
    assert sorted(r.to for r in smtp.received) == [
        "member@contoso.example",
        "owner@contoso.example",
    ]
    assert {r.message["Subject"] for r in smtp.received} == {
        "New lead for Contoso: Person1 Example, Customer 1 Ltd"
    }
    assert list(states.all()) == [("sent", 1), ("sent", 1)]


def test_a_refused_recipient_is_retried_then_failed(smtp):  # noqa: F811
    news = Newsroom()
    smtp.answers["owner@contoso.example"] = "451 Try again later"
    news.lead(1)

    worker_run()

    email = NotificationEmail.objects.get()
    assert (email.status, email.attempts, email.smtp_code) == ("deferred", 1, 451)
    smtp.answers["owner@contoso.example"] = "550 No such user"
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=6)):
        worker_run()
    email.refresh_from_db()
    assert (email.status, email.attempts, email.smtp_code) == ("failed", 2, 550)
    assert smtp.received == []


def test_logs_never_hold_the_leads_name_company_or_address(smtp, caplog):  # noqa: F811
    # Given a lead with marker values, and a first recipient that the server refuses
    caplog.set_level(logging.DEBUG)
    news = Newsroom()
    choose(news.member, "immediate")
    smtp.answers["owner@contoso.example"] = "550 No such user"
    news.lead(1, first="Sentinelfirst", last="Sentinellast", company="Sentinel Corp")

    worker_run()

    # Then the events are logged, and no record of ours holds a marker
    ours = [r for r in caplog.records if r.name.startswith("leads.")]
    assert {r.getMessage() for r in ours} == {
        "leads.notifications.failed",
        "leads.notifications.sent",
    }
    for record in ours:
        text = record.getMessage() + repr(vars(record))
        for marker in ("Sentinel", "person1@customer.example"):
            assert marker not in text


def test_a_member_who_turned_the_email_off_is_not_mailed_what_was_planned(smtp):  # noqa: F811
    # Given a lead planned for the owner (immediate by default)
    news = Newsroom()
    news.lead(1)
    services.notifications_plan()

    # When the owner turns the email off before the sender runs
    choose(news.owner, "off")
    worker_run()

    # Then nothing is sent, and the planned notification is gone
    assert smtp.received == []
    assert not LeadNotification.objects.exists()
    assert not NotificationEmail.objects.exists()


def test_an_inactive_user_or_one_without_an_address_is_not_mailed(smtp):  # noqa: F811
    news = Newsroom()
    choose(news.member, "immediate")
    news.owner.user.is_active = False
    news.owner.user.save()
    news.member.user.email = ""
    news.member.user.save()

    news.lead(1)
    worker_run()

    assert smtp.received == []
    assert not LeadNotification.objects.exists()


def test_a_sender_killed_after_committing_its_email_never_sends_it_twice(smtp):  # noqa: F811
    # Given a sender that committed its email as `sending` and died before the SMTP call
    news = Newsroom()
    news.lead(1)
    services.notifications_plan()
    (claimed,) = notifications_send._fresh_claim(timezone.now(), notifications_send.NotifyReport())
    assert NotificationEmail.objects.get().status == "sending"

    # When the next run comes within the lease, and another after it
    worker_run()
    assert smtp.received == []
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        worker_run()

    # Then the email is interrupted (it may have left), and was never sent again
    claimed.refresh_from_db()
    assert claimed.status == "interrupted"
    assert smtp.received == []


def test_an_email_whose_leads_were_erased_is_not_sent(smtp):  # noqa: F811
    news = Newsroom()
    lead = news.lead(1)
    services.notifications_plan()
    (email,) = notifications_send._fresh_claim(timezone.now(), notifications_send.NotifyReport())
    lead.delete()  # erased: its activities and their notifications go with it

    notifications_send._deliver(None, email, notifications_send.NotifyReport())

    email.refresh_from_db()
    assert (email.status, email.error) == ("failed", "No lead left to announce.")
    assert smtp.received == []


@pytest.mark.no_sqlite
@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_mail_each_member_once(smtp):  # noqa: F811
    # Given twenty members who want every lead, and five leads
    news = Newsroom()
    for n in range(18):
        choose(
            make_membership(
                user=make_user(email=f"m{n}@contoso.example"), publisher=news.publisher
            ),
            "immediate",
        )
    choose(news.member, "immediate")
    for n in range(5):
        news.lead(n)
    services.notifications_plan()
    errors: list = []

    def run():
        try:
            notifications_send.notifications_send_due()
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    # When two workers send at the same moment
    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    # Then every member got exactly one email with the five leads
    assert errors == []
    recipients = [r.to for r in smtp.received]
    assert len(recipients) == len(set(recipients)) == 20
    assert {r.message["Subject"] for r in smtp.received} == {"Contoso: 5 new leads"}
    assert NotificationEmail.objects.filter(status="sent").count() == 20


@pytest.mark.no_sqlite
@pytest.mark.django_db(transaction=True)
def test_a_run_that_meets_a_locked_notification_waits_rather_than_split_the_email(smtp):  # noqa: F811
    # Given an owner with five due notifications, one of them locked by another run
    news = Newsroom()
    for n in range(5):
        news.lead(n)
    services.notifications_plan()
    locked = LeadNotification.objects.order_by("pk").first()
    holding = threading.Event()
    release = threading.Event()

    def other_run():
        with transaction.atomic():
            LeadNotification.objects.select_for_update().filter(pk=locked.pk).get()
            holding.set()
            release.wait(timeout=30)
        connection.close()

    other = threading.Thread(target=other_run)
    other.start()
    holding.wait(timeout=30)

    # When a run sends while the other holds that row, and the other lets it go unchanged
    releaser = threading.Timer(0.5, release.set)
    releaser.start()
    notifications_send.notifications_send_due()
    other.join(timeout=30)
    releaser.join()

    # Then the owner got one email with all five leads, not four now and one later
    assert [r.message["Subject"] for r in smtp.received] == ["Contoso: 5 new leads"]
    assert not LeadNotification.objects.filter(email__isnull=True).exists()


def test_the_html_part_escapes_what_the_customer_typed(smtp):  # noqa: F811
    news = Newsroom()
    news.lead(1, first="<img src=x onerror=alert(1)>", company="A & B <Ltd>")

    worker_run()

    (received,) = smtp.received
    html = received.message.get_body(("html",)).get_content()
    text = received.message.get_body(("plain",)).get_content()
    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt; Example</a>, A &amp; B &lt;Ltd&gt;" in html
    assert "<img src=x onerror=alert(1)> Example, A & B <Ltd>" in text


def test_activities_written_without_the_flag_are_never_announced(smtp):  # noqa: F811
    # Given an activity written by SQL that leaves the column out, as the rows that
    # existed before the migration were
    news = Newsroom()
    lead = news.lead(1)
    services.notifications_plan()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO leads_leadactivity (lead_id, listing_id, storefront, action_code, "
            "lead_source, description, occurred_at, is_test, raw_payload, intake_response, "
            "created_at) SELECT lead_id, listing_id, storefront, action_code, lead_source, "
            "description, occurred_at, is_test, raw_payload, intake_response, created_at "
            "FROM leads_leadactivity WHERE lead_id = %s",
            [lead.pk],
        )

    # Then the planner finds nothing new
    assert lead.activities.count() == 2
    assert services.notifications_plan() == 0
