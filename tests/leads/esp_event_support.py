"""ESP webhook posts for the tracking tests: each ESP's documented event format, as
django-anymail's own tests post them (tests/test_*_webhooks.py of django-anymail)."""

import json
import uuid
from base64 import b64encode
from datetime import UTC, datetime

import pytest
import time_machine
from anymail.backends.test import EmailBackend as AnymailTestBackend

from leads.models import EmailSend
from leads.nurture import send as nurture_send
from tests.leads.nurture_support import Sequence

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SECRET = "anymail-user:s3cret-webhook-pass"


def basic_auth(secret: str = SECRET) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + b64encode(secret.encode()).decode()}


@pytest.fixture
def webhook_secret(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}


@pytest.fixture
def sent(smtp, webhook_secret):
    """A sequence whose first step went out to three leads over loopback SMTP."""
    with time_machine.travel(T0, tick=True):
        sequence = Sequence()
        sequence.leads_ = sequence.leads(3)
        sequence.enrol(sequence.leads_)
        nurture_send.nurture_send_due()
    sequence.smtp = smtp
    sequence.sends = list(
        EmailSend.objects.filter(enrollment__lead__in=sequence.leads_).order_by(
            "enrollment__lead_id"
        )
    )
    return sequence


def as_esp_sent(send: EmailSend, esp_message_id: str) -> EmailSend:
    """The id the ESP gave the message (anymail_status.message_id when sent through it)."""
    EmailSend.objects.filter(pk=send.pk).update(message_id=esp_message_id)
    send.refresh_from_db()
    return send


def sendgrid_post(client, events: list[dict], **auth):
    return client.post(
        "/anymail/sendgrid/tracking/",
        data=json.dumps(events),
        content_type="application/json",
        **auth,
    )


def postmark_post(client, event: dict, **auth):
    return client.post(
        "/anymail/postmark/tracking/",
        data=json.dumps(event),
        content_type="application/json",
        **auth,
    )


def ses_post(client, ses_event: dict, sns_message_id: str, **auth):
    """An SES event inside its SNS notification, posted as SNS does (JSON as text/plain)."""
    sns = {
        "Type": "Notification",
        "MessageId": sns_message_id,
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:SES_Notifications",
        "Message": json.dumps(ses_event) + "\n",
        "Timestamp": "2018-03-26T17:58:59.675Z",
        "SignatureVersion": "1",
    }
    return client.post(
        "/anymail/amazon_ses/tracking/",
        data=json.dumps(sns),
        content_type="text/plain; charset=UTF-8",
        HTTP_X_AMZ_SNS_MESSAGE_ID=sns_message_id,
        HTTP_X_AMZ_SNS_MESSAGE_TYPE="Notification",
        **auth,
    )


def sendgrid_event(kind: str, anymail_id: str, event_id: str, **fields) -> dict:
    return {
        "email": "recipient@example.com",
        "timestamp": 1461095250,
        "smtp-id": "<wrfRRvF7Q0GgwUo2CvDmEA@ismtpd0006p1sjc2.sendgrid.net>",
        "sg_event_id": event_id,
        "sg_message_id": "wrfRRvF7Q0GgwUo2CvDmEA.filter0425p1mdw1.13037.57168B4A1D.0",
        "anymail_id": anymail_id,
        "event": kind,
        **fields,
    }


def ses_event(notification_type: str, message_id: str, **parts) -> dict:
    return {
        "notificationType": notification_type,
        "mail": {
            "timestamp": "2016-01-27T14:59:38.237Z",
            "source": "john@example.com",
            "messageId": message_id,
            "destination": ["jane@example.com"],
        },
        **parts,
    }


class EspBackend(AnymailTestBackend):
    """anymail's test backend (the outbox, anymail_status), with ids shaped like Postmark's."""

    def get_esp_message_id(self, message):
        return str(uuid.uuid4())


@pytest.fixture
def esp(settings, webhook_secret):
    settings.MAILERS = {"default": {"BACKEND": f"{__name__}.EspBackend", "OPTIONS": {}}}
    settings.DEFAULT_FROM_EMAIL = "Lead Portal <nurture@portal.test>"
