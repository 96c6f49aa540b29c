"""Hypothesis against intake: arbitrary JSON and Unicode in every field.

Whatever is sent, intake never answers 5xx, and the database changes only for the
items it accepted: a 201 adds exactly one activity, a replay (200) or a refusal adds
nothing. Validation catches everything: no item reaches the database's last-resort
refusal (`unstorable`, leads.intake), which is for the database's own surprises.

Bodies are encoded with `ensure_ascii`, so lone surrogates travel as `\\ud800`
escapes (Python cannot encode them as UTF-8) and non-finite floats as `NaN`/`Infinity`,
both of which Python's JSON parser accepts, as ninja's does.
"""

import itertools
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leads.models import Lead, LeadActivity
from tests.leads.conftest import lead_payload
from tests.leads.hostile_input import KNOWN_FIELD_PATHS

# Characters intake must cope with: NUL, other C0 and C1 controls, line breaks, DEL,
# both halves of a surrogate pair on their own, a BOM and a non-character.
HOSTILE = ["\x00", "\x07", "\x1b", "\t", "\n", "\r", "\x7f", "\x85", "\ud800", "\udfff"]
HOSTILE += ["\ufeff", "\uffff", "İ", "@", "|", "-", "."]
# Half the strings are clean (so that leads get stored, hostile parts and all); the
# other half hold at least one character of the list above, or any control character
# or surrogate, amid arbitrary code points.
clean_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=30)
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=15)
bad_character = st.sampled_from(HOSTILE) | st.characters(categories=("Cc", "Cs"))
hostile_text = st.tuples(any_text, bad_character, any_text).map("".join)
text = clean_text | hostile_text
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=12,
)
field_values = text | json_values

PATHS = [("UserDetails",), *KNOWN_FIELD_PATHS]
# A few changes per lead: known fields, unknown keys (at the top or in UserDetails).
changes = st.lists(
    st.tuples(st.sampled_from(PATHS) | st.tuples(text) | st.tuples(st.just("UserDetails"), text)),
    max_size=4,
).flatmap(
    lambda paths: st.tuples(
        st.just(paths), st.lists(field_values, min_size=len(paths), max_size=len(paths))
    )
)

_emails = itertools.count()


def hostile_lead(mutations) -> dict:
    """A valid lead, then each (path, value) of mutations applied over it."""
    paths, values = mutations
    payload = lead_payload(email=f"fuzz{next(_emails)}@contoso.example")
    for (path,), value in zip(paths, values, strict=True):
        target = payload
        for key in path[:-1]:
            if not isinstance(target.get(key), dict):
                break
            target = target[key]
        else:
            target[path[-1]] = value
    return payload


def encode(body) -> bytes:
    return json.dumps(body, ensure_ascii=True, allow_nan=True).encode()


def counts() -> tuple[int, int]:
    return Lead.objects.count(), LeadActivity.objects.count()


FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(mutations=changes, idempotency_key=st.none() | text)
def test_single_intake_never_fails_and_stores_only_what_it_accepts(
    market, mutations, idempotency_key
):
    headers = {} if idempotency_key is None else {"HTTP_IDEMPOTENCY_KEY": idempotency_key}
    leads_before, activities_before = counts()

    response = market.post(encode(hostile_lead(mutations)), **headers)

    assert response.status_code in {200, 201, 400, 422}, response.content
    if response.status_code == 422:
        assert "unstorable" not in {error["type"] for error in response.json()["detail"]}
    leads_after, activities_after = counts()
    if response.status_code == 201:
        assert activities_after == activities_before + 1
        assert leads_after - leads_before in {0, 1}
    else:
        assert (leads_after, activities_after) == (leads_before, activities_before)


@FUZZ
@given(batch=st.lists(changes, min_size=1, max_size=5))
def test_bulk_intake_never_fails_and_stores_only_the_accepted_items(market, batch):
    leads_before, activities_before = counts()

    response = market.post(encode([hostile_lead(m) for m in batch]), path="/api/v1/leads/bulk")

    assert response.status_code in {200, 400, 422}, response.content
    leads_after, activities_after = counts()
    if response.status_code != 200:
        assert (leads_after, activities_after) == (leads_before, activities_before)
        return
    answer = response.json()
    codes = [result["status_code"] for result in answer["results"]]
    assert set(codes) <= {200, 201, 422}
    assert len(codes) == len(batch)
    assert activities_after - activities_before == codes.count(201) == answer["created"]
    assert 0 <= leads_after - leads_before <= codes.count(201)
    for result in answer["results"]:
        if result["status_code"] == 422:
            assert all(error["loc"][:2] == ["body", result["index"]] for error in result["errors"])
            assert "unstorable" not in {error["type"] for error in result["errors"]}
