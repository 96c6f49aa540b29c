"""ESP tracking events through django-anymail's webhooks, posted in each ESP's documented
format (taken from django-anymail's own tests) to the real endpoints."""

import logging

import pytest
from django.core import mail
from django.test import Client

from leads.models import ConsentRecord, EmailEvent, EmailSend, Enrollment, Suppression
from leads.nurture import send as nurture_send
from leads.nurture import unsubscribe
from tests.leads.esp_event_support import (
    SECRET,
    as_esp_sent,
    basic_auth,
    esp,  # noqa: F401
    postmark_post,
    sendgrid_event,
    sendgrid_post,
    sent,  # noqa: F401
    ses_event,
    ses_post,
    webhook_secret,  # noqa: F401
)
from tests.leads.nurture_support import Sequence, smtp  # noqa: F401

pytestmark = [pytest.mark.django_db]

AUTH = basic_auth()
SG_ID = "4ab185c2-0171-492f-9ce0-27de258efc99"  # anymail's id of a SendGrid message
SES_ID = "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000"
PM_ID = "2706ee8a-737c-4285-b032-ccd317af53ed"


def suppressed(send: EmailSend) -> Suppression | None:
    email = send.enrollment.lead.email
    return Suppression.objects.filter(email_hash=unsubscribe.email_hash(email)).first()


def evidence(send: EmailSend) -> list[str]:
    return list(
        ConsentRecord.objects.filter(lead=send.enrollment.lead, email_send=send).values_list(
            "basis", flat=True
        )
    )


def test_smtp_send_stores_its_message_id(sent):  # noqa: F811
    headers = {r.to: r.message["Message-ID"] for r in sent.smtp.received}
    stored = {s.enrollment.lead.email: s.message_id for s in sent.sends}
    assert stored == headers
    assert all(mid.startswith("<") and mid.endswith(">") for mid in stored.values())


def test_sendgrid_delivered_open_click_are_recorded_once(sent):  # noqa: F811
    send = as_esp_sent(sent.sends[0], SG_ID)
    events = [
        sendgrid_event("delivered", SG_ID, "nOSv8m0eTQ-vxvwNwt3fZQ", response="250 OK"),
        sendgrid_event("open", SG_ID, "MjIwNDg5NTgtZGE3OC00NDI1", useragent="Firefox/11.0"),
        sendgrid_event("click", SG_ID, "ZmI2YTk1ZTQtYWRkMy00", url="https://example.com/docs"),
    ]
    first = sendgrid_post(Client(), events, **AUTH)
    again = sendgrid_post(Client(), events, **AUTH)  # SendGrid retries: nothing twice

    assert (first.status_code, again.status_code) == (200, 200)
    kinds = sorted(EmailEvent.objects.filter(send=send).values_list("kind", "url"))
    assert kinds == [("clicked", "https://example.com/docs"), ("delivered", ""), ("opened", "")]
    send.refresh_from_db()
    assert send.delivered_at is not None and send.status == EmailSend.Status.SENT
    assert suppressed(send) is None


def test_sendgrid_bounce_suppresses_and_soft_bounce_is_counted(sent):  # noqa: F811
    hard = as_esp_sent(sent.sends[0], SG_ID)
    soft = as_esp_sent(sent.sends[1], "ccf83222-0d7e-4542-8beb-893122afa757")
    events = [
        sendgrid_event(
            "bounce",
            SG_ID,
            "lC0Rc-FuQmKbnxCWxX1jRQ",
            status="5.1.1",
            type="bounce",
            reason="550 5.1.1 The email account that you tried to reach does not exist.",
        ),
        sendgrid_event(
            "deferred",
            soft.message_id,
            "b_syL5UiTvWC_Ky5L6Bs5Q",
            attempt="1",
            response="Email was deferred due to the following reason(s): [IPs were throttled]",
        ),
    ]
    assert sendgrid_post(Client(), events, **AUTH).status_code == 200

    hard.refresh_from_db()
    assert hard.status == EmailSend.Status.BOUNCED
    assert suppressed(hard).reason == Suppression.Reason.BOUNCED
    assert evidence(hard) == ["bounce"]
    assert Enrollment.objects.get(pk=hard.enrollment_id).state == Enrollment.State.STOPPED
    assert suppressed(soft) is None
    assert EmailEvent.objects.get(send=soft).kind == EmailEvent.Kind.SOFT_BOUNCED


def test_sendgrid_spam_report_and_unsubscribe_suppress(sent):  # noqa: F811
    complained = as_esp_sent(sent.sends[0], SG_ID)
    left = as_esp_sent(sent.sends[1], "a36ec0f9-aabe-45c7-9a84-3e17afb5cb65")
    events = [
        sendgrid_event("spamreport", SG_ID, "oxy9OLwMTAy5EsuZn1qhIg"),
        sendgrid_event("unsubscribe", left.message_id, "ZGQ3MzAyMzgtMzE2My00"),
    ]
    assert sendgrid_post(Client(), events, **AUTH).status_code == 200

    assert suppressed(complained).reason == Suppression.Reason.COMPLAINED
    assert evidence(complained) == ["complaint"]
    assert suppressed(left).reason == Suppression.Reason.UNSUBSCRIBED


def test_ses_bounce_complaint_and_delivery_through_sns(sent):  # noqa: F811
    bounced = as_esp_sent(sent.sends[0], SES_ID)
    complained = as_esp_sent(sent.sends[1], "000001378603177f-7a5433e7-8edb-42ae-af10")
    delivered = as_esp_sent(sent.sends[2], "0000014644fe5ef6-9a483358-9170-4cb4-a269")
    bounce = {
        "bounceType": "Permanent",
        "bounceSubType": "General",
        "bouncedRecipients": [{"emailAddress": "jane@example.com", "status": "5.1.1"}],
        "timestamp": "2016-01-27T14:59:44.101Z",
        "feedbackId": "00000138111222aa-44455566-cccc-cccc-cccc-ddddaaaa068a-000000",
    }
    complaint = {
        "userAgent": "AnyCompany Feedback Loop (V0.01)",
        "complainedRecipients": [{"emailAddress": "jane@example.com"}],
        "complaintFeedbackType": "abuse",
    }
    delivery = {
        "timestamp": "2016-01-27T14:59:38.237Z",
        "recipients": ["jane@example.com"],
        "smtpResponse": "250 ok:  Message 64111812 accepted",
    }
    posts = [
        ses_post(Client(), ses_event("Bounce", SES_ID, bounce=bounce), "sns-1", **AUTH),
        ses_post(
            Client(),
            ses_event("Complaint", complained.message_id, complaint=complaint),
            "sns-2",
            **AUTH,
        ),
        ses_post(
            Client(),
            ses_event("Delivery", delivered.message_id, delivery=delivery),
            "sns-3",
            **AUTH,
        ),
    ]

    assert [p.status_code for p in posts] == [200, 200, 200]
    assert suppressed(bounced).reason == Suppression.Reason.BOUNCED
    assert suppressed(complained).reason == Suppression.Reason.COMPLAINED
    assert evidence(complained) == ["complaint"]
    delivered.refresh_from_db()
    assert delivered.delivered_at is not None and suppressed(delivered) is None


def test_ses_transient_bounce_is_soft(sent):  # noqa: F811
    send = as_esp_sent(sent.sends[0], SES_ID)
    bounce = {
        "bounceType": "Transient",
        "bounceSubType": "MailboxFull",
        "bouncedRecipients": [{"emailAddress": "jane@example.com"}],
        "timestamp": "2016-01-27T14:59:44.101Z",
    }
    response = ses_post(Client(), ses_event("Bounce", SES_ID, bounce=bounce), "sns-9", **AUTH)

    assert response.status_code == 200
    assert suppressed(send) is None
    assert EmailEvent.objects.get(send=send).kind == EmailEvent.Kind.SOFT_BOUNCED


def test_postmark_bounce_delivery_open_and_spam(sent):  # noqa: F811
    bounced = as_esp_sent(sent.sends[0], PM_ID)
    delivered = as_esp_sent(sent.sends[1], "883953f4-6105-42a2-a16a-77a8eac79483")
    complained = as_esp_sent(sent.sends[2], "f4830d10-9c35-4f0c-bca3-3d9b459821f8")
    bounce = {
        "RecordType": "Bounce",
        "ID": 901542550,
        "Type": "HardBounce",
        "TypeCode": 1,
        "MessageID": PM_ID,
        "Name": "Hard bounce",
        "Email": "bounce@example.com",
        "Description": "The server was unable to deliver your message.",
        "Details": "smtp;550 5.1.1",
        "BouncedAt": "2016-04-27T16:28:50.3963933-04:00",
    }
    delivery = {
        "RecordType": "Delivery",
        "ServerId": 23,
        "MessageID": delivered.message_id,
        "Recipient": "recipient@example.com",
        "DeliveredAt": "2014-08-01T13:28:10.27-04:00",
        "Details": "Test delivery webhook details",
    }
    opened = {
        "RecordType": "Open",
        "FirstOpen": True,
        "MessageID": delivered.message_id,
        "ReceivedAt": "2016-04-27T16:21:41.2493688-04:00",
        "Recipient": "recipient@example.com",
        "UserAgent": "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0",
    }
    spam = {
        "RecordType": "SpamComplaint",
        "ID": 901542551,
        "Type": "SpamComplaint",
        "TypeCode": 512,
        "MessageID": complained.message_id,
        "Email": "spam@example.com",
        "BouncedAt": "2016-04-27T16:28:50.3963933-04:00",
        "Details": "Test spam complaint",
    }
    codes = [
        postmark_post(Client(), e, **AUTH).status_code for e in (bounce, delivery, opened, spam)
    ]

    assert codes == [200, 200, 200, 200]
    assert suppressed(bounced).reason == Suppression.Reason.BOUNCED
    assert suppressed(complained).reason == Suppression.Reason.COMPLAINED
    assert evidence(complained) == ["complaint"]
    assert sorted(EmailEvent.objects.filter(send=delivered).values_list("kind", flat=True)) == [
        "delivered",
        "opened",
    ]


def test_wrong_or_missing_credentials_are_refused(sent):  # noqa: F811
    as_esp_sent(sent.sends[0], SG_ID)
    wrong = basic_auth("anymail-user:not-the-secret")
    event = [sendgrid_event("spamreport", SG_ID, "oxy9OLwMTAy5EsuZn1qhIg")]
    ses = ses_event("Complaint", SG_ID, complaint={"complaintFeedbackType": "abuse"})
    pm = {"RecordType": "SpamComplaint", "ID": 1, "MessageID": SG_ID, "Type": "SpamComplaint"}

    codes = [
        sendgrid_post(Client(), event, **wrong).status_code,
        sendgrid_post(Client(), event).status_code,
        ses_post(Client(), ses, "sns-7", **wrong).status_code,
        ses_post(Client(), ses, "sns-8").status_code,
        postmark_post(Client(), pm, **wrong).status_code,
        postmark_post(Client(), pm).status_code,
    ]

    assert codes == [400, 400, 400, 401, 400, 400]
    assert not EmailEvent.objects.exists() and not Suppression.objects.exists()


def test_without_a_webhook_secret_the_webhooks_are_absent(sent, settings):  # noqa: F811
    as_esp_sent(sent.sends[0], SG_ID)
    settings.ANYMAIL = {"WEBHOOK_SECRET": ""}
    event = [sendgrid_event("spamreport", SG_ID, "oxy9OLwMTAy5EsuZn1qhIg")]

    assert sendgrid_post(Client(), event).status_code == 404
    assert sendgrid_post(Client(), event, **basic_auth(SECRET)).status_code == 404
    assert not Suppression.objects.exists()


def test_event_of_an_unknown_message_is_accepted_and_ignored(sent):  # noqa: F811
    event = [sendgrid_event("spamreport", "no-such-message", "oxy9OLwMTAy5EsuZn1qhIg")]

    assert sendgrid_post(Client(), event, **AUTH).status_code == 200
    assert not EmailEvent.objects.exists() and not Suppression.objects.exists()


def test_a_message_sent_through_an_esp_keeps_the_esp_id_and_its_events_find_it(esp):  # noqa: F811
    sequence = Sequence()
    sequence.enrol(sequence.leads(1))
    nurture_send.nurture_send_due()
    (message,) = mail.outbox
    send = EmailSend.objects.get()
    delivery = {
        "RecordType": "Delivery",
        "MessageID": message.anymail_status.message_id,
        "Recipient": "lead0@customer.example",
        "DeliveredAt": "2026-11-02T09:00:10.27-00:00",
    }

    response = postmark_post(Client(), delivery, **AUTH)

    assert send.status == EmailSend.Status.SENT
    assert send.message_id == message.anymail_status.message_id
    assert response.status_code == 200
    send.refresh_from_db()
    assert send.delivered_at is not None


def test_logs_of_events_never_hold_the_address(sent, caplog):  # noqa: F811
    # Given a complaint and an unknown message's bounce, both naming addresses
    caplog.set_level(logging.DEBUG)
    send = as_esp_sent(sent.sends[0], SG_ID)
    address = send.enrollment.lead.email
    events = [
        sendgrid_event("spamreport", SG_ID, "oxy9OLwMTAy5EsuZn1qhIg", email=address),
        sendgrid_event("bounce", "unknown-id", "lC0Rc-FuQmKbnxCWxX1jRQ", email="x@marker.example"),
    ]

    sendgrid_post(Client(), events, **AUTH)

    # Then they are logged, and no record of ours holds an address
    ours = [r for r in caplog.records if r.name.startswith("leads.")]
    assert {"leads.nurture.event", "leads.nurture.event_unmatched"} <= {
        r.getMessage() for r in ours
    }
    for record in ours:
        text = record.getMessage() + repr(vars(record))
        for marker in (address, "marker.example", "customer.example"):
            assert marker not in text


def test_staff_see_a_sends_events_in_admin(sent, admin_client):  # noqa: F811
    send = as_esp_sent(sent.sends[0], SG_ID)
    click = sendgrid_event("click", SG_ID, "ZmI2YTk1ZTQtYWRkMy00", url="https://example.com/docs")
    sendgrid_post(Client(), [click], **AUTH)

    page = admin_client.get(f"/admin/leads/emailsend/{send.pk}/change/")

    assert page.status_code == 200
    assert "https://example.com/docs" in page.content.decode()


@pytest.mark.parametrize("count", [1, 10])
def test_a_batch_of_events_costs_a_bounded_number_of_queries_each(
    sent,  # noqa: F811
    count,
    django_assert_max_num_queries,
):
    as_esp_sent(sent.sends[0], SG_ID)
    events = [sendgrid_event("open", SG_ID, f"open-{n}") for n in range(count)]

    # Per event: its transaction, the send, the event (get_or_create: select, insert).
    with django_assert_max_num_queries(7 * count):
        response = sendgrid_post(Client(), events, **AUTH)

    assert response.status_code == 200
    assert EmailEvent.objects.filter(kind="opened").count() == count
