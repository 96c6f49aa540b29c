"""leads.intake.payload_limits: the glance lets through only what the full walk accepts."""

import pytest

from leads.intake import payload_limits
from tests.leads.conftest import lead_payload


def nested(levels: int) -> dict:
    value: dict = {}
    for _ in range(levels - 1):
        value = {"x": value}
    return value


CLEAN = [
    lead_payload(),
    lead_payload(Description="Zoë’s team — 5 seats"),
    {"a": [1, 2.5, None, True, {"b": "\\ plain backslash"}]},
    nested(payload_limits.MAX_DEPTH),
    "a bare string",
    42,
]
REFUSED_OR_WALKED = [
    lead_payload(Description="two\nlines"),  # allowed, but only the walk can tell
    {"a\n": "key with a line feed"},
    {"a": "nul \x00"},
    {"a": "c1 \x85"},
    {"a": "del \x7f"},
    {"a": "lone \ud800"},
    {"\udfff": 1},
    {"a": float("nan")},
    {"a": float("inf")},
    {"a": "\\n is text here"},
    nested(payload_limits.MAX_DEPTH + 1),
    {f"k{n}": n for n in range(payload_limits.MAX_KEYS + 1)},
    {"a": "x" * payload_limits.MAX_RAW_BYTES},
]


@pytest.mark.parametrize("raw", CLEAN)
def test_a_clean_payload_passes_at_a_glance(raw):
    assert payload_limits._storable_at_a_glance(raw) is True
    assert payload_limits.raw_payload_errors(raw) == []


@pytest.mark.parametrize("raw", REFUSED_OR_WALKED)
def test_anything_else_takes_the_full_walk(raw):
    assert payload_limits._storable_at_a_glance(raw) is False


def test_the_walk_still_names_each_problem():
    errors = payload_limits.raw_payload_errors({"a": "nul \x00", "b": float("nan")})
    assert [(e["loc"], e["type"]) for e in errors] == [
        (["a"], "null_character"),
        (["b"], "number_not_finite"),
    ]
    assert payload_limits.raw_payload_errors(lead_payload(Description="two\nlines")) == []
