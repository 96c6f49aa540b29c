"""The webhook body's two repairs: Partner Center's missing comma, and the campaign that
Description's marketing parameters name."""

import json

import pytest

from inbound import parsing, webhook
from tests.inbound.conftest import FAQ_TEST_LEAD_TEXT

pytestmark = pytest.mark.sqlite


@pytest.mark.parametrize(
    ("description", "code"),
    [
        ('{"mktcmpid": "1234", "partnerid": "98765"}', "1234"),
        ('{"MKTCMPID": 1234}', "1234"),
        ("?mktcmpid=1234&partnerid=98765", "1234"),
        ("mktcmpid=spring-launch", "spring-launch"),
        ("Campaigns: utm_source=bing&utm_campaign=q3-azure", "q3-azure"),
        ("Came from ocid=AID3045 via the storefront", "AID3045"),
        ('Campaigns: {"utm_campaign": "launch", "mktcmpid": "first"}', "first"),
        ("Wants a demo", ""),
        ("Campaigns: ", ""),
        (" ", ""),
        ('{"mktcmpid": true}', ""),
        ('{"mktcmpid": ["a"]}', ""),
        ("mktcmpid=" + "x" * 65, ""),
        ("{not json} mktcmpid=abc", "abc"),
    ],
)
def test_the_campaign_code_comes_from_descriptions_marketing_parameters(description, code):
    assert parsing.campaign_code_from(description) == code


def test_the_faq_test_lead_gets_its_missing_comma_back():
    data = webhook.body_json(FAQ_TEST_LEAD_TEXT)

    assert data["OfferTitle"] == "Contoso Test"
    assert data["Description"] == "MSFT_TEST_636573304831318844"
    assert data["userDetails"]["Email"] == "MSFT_TEST_636573304831318844@test.com"


@pytest.mark.parametrize(
    "text",
    ['{"a": "b" "c": "d"}', '{"a": "b",\n "c": }', '{"a": "b"\n\n'],
    ids=["same-line", "missing-value", "unclosed"],
)
def test_other_broken_json_stays_a_not_json_reject(text):
    result = webhook.body_json(text)

    assert isinstance(result, parsing.InboundReject)
    assert result.code == "not_json"


def test_a_repair_never_changes_a_string_value():
    text = '{"Description": "line one\\n\\"quoted\\"",\n "OfferTitle": "x"}'

    assert webhook.body_json(text) == json.loads(text)
