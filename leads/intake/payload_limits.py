"""What intake accepts and stores: storable text, bounded JSON, UTC datetimes.

Every string a storefront sends ends up in PostgreSQL, in a text column or inside the
activity's `raw_payload` (jsonb). PostgreSQL stores neither NUL (U+0000) nor an unpaired
surrogate (which has no UTF-8 form), and jsonb refuses NaN and Infinity; each used to be
a 500. So every string, known field or unknown key, key names included, at any depth, is
checked here first, and a lead that fails gets a 422 naming the path of the value.

Limits on one lead's JSON (a single body, one bulk item, a referral):
  - nesting: at most MAX_DEPTH levels (the lead object itself is level 1);
  - size: at most MAX_RAW_BYTES once serialised compactly as UTF-8, and MAX_KEYS
    object members in all;
  - text: no NUL, no other control character (C0, DEL, C1) except tab, line feed and
    carriage return in free text; key names and single-line fields allow none; no
    unpaired surrogate;
  - numbers: finite.
The walk is iterative and stops at the first MAX_ERRORS problems, so a hostile body
costs time linear in its size and an answer of bounded length.
"""

import json
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic_core import PydanticCustomError

MAX_DEPTH = 32
MAX_RAW_BYTES = 64 * 1024
MAX_KEYS = 1000
MAX_ERRORS = 10

# PostgreSQL's timestamptz accepts UTC offsets up to 15:59 (and refuses +16:00 with a 500).
MAX_UTC_OFFSET = timedelta(hours=15, minutes=59)

_ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_WHITESPACE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# Unambiguous (no two quantifiers compete for the same digits), so it is linear in time.
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def text_problem(value: str, *, multiline: bool = False) -> tuple[str, str] | None:
    """(type, message) when this text cannot be stored as it is; None when it can."""
    surrogate = _SURROGATE.search(value)
    if surrogate:
        return (
            "unpaired_surrogate",
            f"Text must be valid Unicode: it contains an unpaired surrogate "
            f"(U+{ord(surrogate.group()):04X}).",
        )
    control = (_CONTROL_BUT_WHITESPACE if multiline else _ANY_CONTROL).search(value)
    if control is None:
        return None
    code = ord(control.group())
    if code == 0:
        return "null_character", "Text must not contain a NUL character (U+0000)."
    allowed = " (tab, line feed and carriage return are allowed here)" if multiline else ""
    return (
        "control_character",
        f"Text must not contain the control character U+{code:04X}{allowed}.",
    )


def check_text(value: str, *, multiline: bool = False) -> str:
    """A pydantic validator: the text, or a field error naming what is wrong with it."""
    problem = text_problem(value, multiline=multiline)
    if problem:
        raise PydanticCustomError(*problem)
    return value


def check_single_line(value: str) -> str:
    return check_text(value, multiline=False)


def check_multiline(value: str) -> str:
    return check_text(value, multiline=True)


def datetime_text(value: Any) -> Any:
    """A pydantic before-validator: a date and time as text, never a bare number.

    pydantic would read 0.5 or "1700000000" as Unix time, which the documented format
    (ISO 8601) does not allow; other text is left to pydantic's own parser.
    """
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or _NUMBER.fullmatch(value.strip()):
        raise PydanticCustomError(
            "datetime_format", "Use an ISO 8601 date and time, such as 2026-01-31T09:30:00Z."
        )
    return value


def utc_datetime(value: datetime) -> datetime:
    """The moment in UTC (naive means UTC), or a field error when it cannot be stored."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    offset = value.utcoffset() or timedelta(0)
    if abs(offset) > MAX_UTC_OFFSET:
        raise PydanticCustomError(
            "datetime_offset_range",
            "The UTC offset {offset} is out of range: it must be between -15:59 and +15:59.",
            {"offset": _format_offset(offset)},
        )
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError(
            "datetime_range", "The date is out of range once converted to UTC (years 1 to 9999)."
        ) from None


def _format_offset(offset: timedelta) -> str:
    sign = "-" if offset < timedelta(0) else "+"
    minutes = int(abs(offset).total_seconds()) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def raw_payload_errors(raw: Any) -> list[dict]:
    """The problems of one lead's raw JSON, as field errors whose loc is its path.

    An empty list means the JSON can be stored as the activity's raw payload.
    """
    if _storable_at_a_glance(raw):
        return []
    errors: list[dict] = []
    keys = 0
    # (value, path, depth); a stack, so that no nesting can exhaust Python's recursion.
    stack: list[tuple[Any, tuple, int]] = [(raw, (), 1)]
    while stack and len(errors) < MAX_ERRORS:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            problem = text_problem(value, multiline=True)
            if problem:
                errors.append(_error(path, *problem))
        elif isinstance(value, float) and not math.isfinite(value):
            errors.append(_error(path, "number_not_finite", "Numbers must be finite."))
        elif isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                msg = f"The JSON is nested too deeply: at most {MAX_DEPTH} levels."
                errors.append(_error(path, "json_too_deep", msg))
                continue
            if isinstance(value, list):
                children = list(enumerate(value))
            else:
                keys += len(value)
                if keys > MAX_KEYS:
                    msg = f"The JSON has too many keys: at most {MAX_KEYS} in all."
                    errors.append(_error((), "json_too_many_keys", msg))
                    break
                children = []
                for key, child in value.items():
                    problem = text_problem(key, multiline=False)
                    if problem:
                        errors.append(_error((*path, _printable(key)), problem[0], problem[1]))
                    else:
                        children.append((key, child))
            # Reversed, so the stack yields children in document order.
            stack.extend((child, (*path, key), depth + 1) for key, child in reversed(children))
    if not errors and _serialised_size(raw) > MAX_RAW_BYTES:
        msg = f"The lead's JSON is larger than {MAX_RAW_BYTES // 1024} KiB."
        errors.append(_error((), "json_too_large", msg))
    return errors


# In compact JSON (ensure_ascii off) every control character below U+0020 is escaped
# (\n, \t, \u0000, …) and C1 and DEL are written as they are. A match may also be an
# escaped backslash before one of these letters: then the full walk decides.
_ESCAPED_OR_C1 = re.compile(r"\\[bfnrtu]|[\x7f-\x9f]")


def _storable_at_a_glance(raw: Any) -> bool:
    """True when the raw JSON certainly has none of the problems `raw_payload_errors`
    reports, checked on its serialised text (one C encoding and one search) and a walk of
    its containers only; False when the full walk must decide, and name the problems."""
    try:
        text = json.dumps(raw, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        size = len(text.encode())
    except (ValueError, RecursionError):  # NaN or Infinity, a lone surrogate, deep nesting
        return False
    if size > MAX_RAW_BYTES or _ESCAPED_OR_C1.search(text):
        return False
    keys = 0
    stack: list[tuple[Any, int]] = [(raw, 1)] if isinstance(raw, dict | list) else []
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return False
        children = value.values() if isinstance(value, dict) else value
        if isinstance(value, dict):
            keys += len(value)
            if keys > MAX_KEYS:
                return False
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return True


def _serialised_size(raw: Any) -> int:
    # Called once the walk found only storable text, so this encoding cannot fail.
    return len(json.dumps(raw, ensure_ascii=False, separators=(",", ":")).encode())


def _printable(key: str) -> str:
    """A key name that can be echoed back in JSON (its bad characters escaped)."""
    return key.encode("utf-8", "backslashreplace").decode("utf-8")


def _error(path: tuple, kind: str, msg: str) -> dict:
    return {"loc": list(path), "msg": msg, "type": kind}
