"""Hostile input at intake: never a 5xx, never a half-stored lead.

Every case here used to be a 500 from PostgreSQL (NUL, unpaired surrogates, offsets
beyond ±15:59) or was accepted when it should not be (deep nesting, long local parts).
"""

import json

import pytest

from leads.models import LeadActivity
from tests.leads.conftest import lead_payload
from tests.leads.hostile_input import (
    KNOWN_FIELD_PATHS,
    NON_TEXT_FIELDS,
    assert_nothing_stored,
    raw_body,
)


def set_in(payload: dict, path: tuple, value) -> dict:
    target = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return payload


# --- Text that PostgreSQL cannot store, in every kind of place ----------------------------

TEXT_PLACES = [
    *(path for path in KNOWN_FIELD_PATHS if path not in NON_TEXT_FIELDS),
    ("SomeUnknownKey",),
    ("UserDetails", "Unknown"),
]


@pytest.mark.parametrize("path", TEXT_PLACES, ids="/".join)
def test_a_nul_in_any_string_is_a_422_naming_it_and_nothing_is_stored(market, path):
    payload = set_in(lead_payload(LeadId="n-1", CampaignCode="c"), path, "Ada\x00Lovelace")

    response = market.post(payload)

    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "loc": ["body", *path],
            "msg": "Text must not contain a NUL character (U+0000).",
            "type": "null_character",
        }
    ]
    assert_nothing_stored()


@pytest.mark.parametrize("char", ["\x07", "\x1b", "\x7f", "\x85", "\n", "\t", "\r"])
def test_control_characters_are_refused_in_single_line_fields(market, char):
    payload = set_in(lead_payload(), ("UserDetails", "FirstName"), f"A{char}da")

    response = market.post(payload)

    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "UserDetails", "FirstName"]
    assert error["type"] == "control_character"
    assert error["msg"] == f"Text must not contain the control character U+{ord(char):04X}."
    assert_nothing_stored()


def test_tabs_and_line_breaks_are_kept_in_the_description_and_unknown_values(market):
    text = "Line one\r\nLine two\tTabbed"
    payload = lead_payload(Description=text, Notes={"free": text})

    response = market.post(payload)

    assert response.status_code == 201
    activity = LeadActivity.objects.get()
    assert activity.description == text
    assert activity.raw_payload["Notes"] == {"free": text}


def test_other_control_characters_are_refused_in_the_description(market):
    response = market.post(lead_payload(Description="bell\x07"))

    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "loc": ["body", "Description"],
            "msg": (
                "Text must not contain the control character U+0007 "
                "(tab, line feed and carriage return are allowed here)."
            ),
            "type": "control_character",
        }
    ]
    assert_nothing_stored()


def test_a_control_character_in_a_key_name_is_refused(market):
    payload = lead_payload()
    payload["Some\x00Key"] = "x"

    response = market.post(payload)

    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert (error["loc"], error["type"]) == (["body", "Some\x00Key"], "null_character")
    assert_nothing_stored()


@pytest.mark.parametrize(
    ("extra", "loc"),
    [
        ('"Unknown": "\\ud800"', ["body", "Unknown"]),
        ('"Unknown": {"deeper": ["ok", "\\udfff"]}', ["body", "Unknown", "deeper", 1]),
        ('"Unknown\\ud800": 1', ["body", "Unknown\\ud800"]),
    ],
)
def test_an_unpaired_surrogate_anywhere_is_a_422_naming_it(market, extra, loc):
    response = market.post(raw_body(extra))

    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == loc
    assert error["type"] == "unpaired_surrogate"
    assert_nothing_stored()


def test_an_unpaired_surrogate_in_a_known_field_is_a_422_naming_it(market):
    body = json.dumps(lead_payload()).replace('"Ada"', '"\\ud800"').encode()

    response = market.post(body)

    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "UserDetails", "FirstName"]
    assert error["type"] == "string_unicode"
    assert_nothing_stored()


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_number_jsonb_cannot_hold_is_a_422(market, number):
    response = market.post(raw_body(f'"Score": {number}'))

    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"loc": ["body", "Score"], "msg": "Numbers must be finite.", "type": "number_not_finite"}
    ]
    assert_nothing_stored()


@pytest.mark.parametrize("value", ["key\x00", "\ud800"])
def test_an_idempotency_key_that_cannot_be_stored_is_a_422(market, value):
    response = market.post(lead_payload(), HTTP_IDEMPOTENCY_KEY=value)

    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["header", "Idempotency-Key"]
    assert_nothing_stored()
