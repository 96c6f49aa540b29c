"""A listing's stricter regions: ISO 3166-1 alpha-2 codes, and the shorthands that name a
group of them (docs/partner-center.md, "Consent").

A listing stores its stricter regions as one normalized text: sorted, unique, upper-case
codes joined by commas ("AT,BE,DE"). A publisher may type codes in any case, separated by
commas, semicolons or spaces, and the shorthands `EU` (the 27 member states) and `EEA`
(the EU plus Iceland, Liechtenstein and Norway), which expand to their codes.
"""

import re

import pycountry
from django.core.exceptions import ValidationError
from django.utils.translation import ngettext

EU = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE".split()
)
EEA = EU | {"IS", "LI", "NO"}
SHORTHANDS: dict[str, frozenset[str]] = {"EU": EU, "EEA": EEA}

_SEPARATORS = re.compile(r"[\s,;]+")


def _is_alpha2(code: str) -> bool:
    return len(code) == 2 and pycountry.countries.get(alpha_2=code) is not None


def countries_parse(text: str) -> str:
    """The normalized stored form of what a publisher typed; ValidationError names every
    token that is neither an ISO alpha-2 code nor a shorthand."""
    codes: set[str] = set()
    unknown: list[str] = []
    for token in _SEPARATORS.split((text or "").strip()):
        if not token:
            continue
        upper = token.upper()
        if upper in SHORTHANDS:
            codes |= SHORTHANDS[upper]
        elif _is_alpha2(upper):
            codes.add(upper)
        else:
            unknown.append(token)
    if unknown:
        raise ValidationError(
            ngettext(
                "%(codes)s is not an ISO 3166-1 alpha-2 country code. Use two-letter codes "
                "such as DE or FR, or the shorthand EEA or EU.",
                "%(codes)s are not ISO 3166-1 alpha-2 country codes. Use two-letter codes "
                "such as DE or FR, or the shorthand EEA or EU.",
                len(unknown),
            )
            % {"codes": ", ".join(unknown)},
            code="invalid_country",
        )
    return ",".join(sorted(codes))


def countries_display(value: str) -> str:
    """A stored value as a person reads it: a whole EEA (or EU) shown by its shorthand."""
    codes = set(countries_of(value))
    shown = []
    for name in ("EEA", "EU"):
        if SHORTHANDS[name] <= codes:
            shown.append(name)
            codes -= SHORTHANDS[name]
    return ", ".join([*shown, *sorted(codes)])


def countries_of(value: str) -> frozenset[str]:
    """The set of codes in a stored value."""
    return frozenset(code for code in (value or "").split(",") if code)
