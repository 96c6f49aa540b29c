"""The create_publisher_token command: create, revoke, refuse (DESIGN §5)."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from leads.intake import api_keys
from leads.models import PublisherApiToken
from tests.factories import make_lead
from tests.leads.publisher_api_support import LIST

# --- The create_publisher_token command ----------------------------------------------------


def run_command(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_publisher_token", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def test_the_command_prints_a_token_that_opens_the_api(db, publisher):
    lead = make_lead(publisher=publisher)

    token, note = run_command("--publisher", publisher.slug, "--name", "Zapier")

    api_token = PublisherApiToken.objects.get()
    assert (api_token.publisher, api_token.name, api_token.revoked_at) == (
        publisher,
        "Zapier",
        None,
    )
    assert token.startswith("lpt_") and "\n" not in token
    assert token.startswith(api_token.prefix)
    assert token not in note
    assert f"Created publisher API token {api_token.prefix}… (Zapier)" in note
    response = Client().get(LIST, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert [item["id"] for item in response.json()["items"]] == [str(lead.uuid)]


def test_the_command_revokes_a_token_by_its_prefix(db, publisher):
    token, _ = run_command("--publisher", publisher.slug, "--name", "Zapier")
    prefix = PublisherApiToken.objects.get().prefix

    out, note = run_command("--revoke", prefix)

    assert out == ""
    assert f"Revoked publisher API token {prefix}… (Zapier)" in note
    assert PublisherApiToken.objects.get().revoked_at is not None
    response = Client().get(LIST, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 401


def test_an_ambiguous_prefix_needs_the_publisher(db, publisher, other_publisher):
    api_keys.publisher_token_create(publisher=publisher, name="a")
    theirs, _ = api_keys.publisher_token_create(publisher=other_publisher, name="b")
    PublisherApiToken.objects.update(prefix="lpt_same")

    with pytest.raises(CommandError, match="add --publisher SLUG"):
        run_command("--revoke", "lpt_same")
    assert not PublisherApiToken.objects.filter(revoked_at__isnull=False).exists()

    run_command("--revoke", "lpt_same", "--publisher", other_publisher.slug)

    revoked = PublisherApiToken.objects.filter(revoked_at__isnull=False)
    assert list(revoked) == [theirs]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--publisher", "nobody", "--name", "x"), "No publisher with the slug 'nobody'."),
        (("--name", "x"), "Give --publisher SLUG and --name NAME, or --revoke PREFIX."),
        (("--revoke", "lpt_none"), "No live publisher API token with the prefix 'lpt_none'."),
    ],
)
def test_the_command_refuses_bad_arguments(db, publisher, args, message):
    with pytest.raises(CommandError) as refused:
        run_command(*args)

    assert str(refused.value) == message
    assert not PublisherApiToken.objects.exists()
