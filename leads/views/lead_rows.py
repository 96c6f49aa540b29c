"""The rows of the lead table, rendered in Python.

Rendered by the template engine, a page of 50 rows cost about 45 ms of CPU (an include,
a `{% with %}`, a sixteen-branch `{% if %}` and a `{% url %}` per cell or row); this writes
the same HTML, byte for byte, in a few milliseconds. `templates/leads/partials/
lead_results.html` places it with `{{ lead_rows }}`. Every value is escaped as a template
variable would be; dates are shown in the current time zone and the active language's
formats, numbers localized. Adding a column is a `Column` in `leads.lifecycle.columns`
and a function in `_CELLS` here.
"""

from collections.abc import Callable, Iterable
from uuid import UUID

from django.urls import get_script_prefix, reverse
from django.utils import dateformat, formats, timezone
from django.utils.html import conditional_escape, escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from leads.catalog.storefronts import Storefront
from leads.lifecycle.columns import Column
from leads.models import LeadStatus
from leads.referrals.models import ReferralStatus, ReferralSubstatus, ReferralSyncState

_ROW = (
    "\n            \n            <tr>\n"
    '              <td class="select-cell">\n'
    '                <input type="checkbox" name="lead" value="{uuid}" id="select-{uuid}"'
    " data-lead-checkbox{checked}>\n"
    '                <label class="visually-hidden" for="select-{uuid}">{select}</label>\n'
    "              </td>\n"
    '              <th scope="row" class="col-name">\n'
    '                <a href="{href}">{name}</a>{test}\n'
    "              </th>\n"
    "              {cells}\n"
    "            </tr>\n            \n          "
)
# A UUID that no lead has, reversed once: each row's link is this with its own UUID.
_PLACEHOLDER = UUID(int=0)


def _text(value) -> str:
    """A value as `{{ value }}` shows it: localized, then escaped."""
    if value is None:
        return "None"
    return conditional_escape(formats.localize(value, use_l10n=True))


def _none() -> str:
    return f'<span class="muted">{escape(_("none"))}</span>'


def _dash() -> str:
    return '<span class="muted">—</span>'


def _datetime(value) -> str:
    if not value:
        return _none()
    local = timezone.template_localtime(value)
    # The `date` filter's "c" is isoformat(); the short format is looked up once a language.
    shown = dateformat.format(local, formats.get_format("SHORT_DATETIME_FORMAT"))
    return f'<time datetime="{escape(local.isoformat())}">{escape(shown)}</time>'


def _listing(lead) -> str:
    activity = lead.latest_activity
    if not activity:
        return _none()
    cell = _text(_labels(Storefront).get(activity.storefront, activity.storefront))
    if activity.listing:
        cell += f'<span class="muted"> · {_text(activity.listing.name)}</span>'
    return cell


def _referral(lead) -> str:
    referral = lead.latest_referral
    if not referral:
        return _none()
    href = escape(_referral_href(referral.pk))
    cell = f'<a href="{href}">{_text(str(referral))}</a>'
    if referral.sync_state in ("pending", "failed"):
        state = escape(referral.sync_state)
        label = _labels(ReferralSyncState).get(referral.sync_state, referral.sync_state)
        cell += f' <span class="badge badge-sync-{state}">{_text(label)}</span>'
    return cell


def _referral_href(pk: int) -> str:
    """The referral's detail URL: reversed once a script prefix, then the id put in."""
    prefix = get_script_prefix()
    if prefix not in _REFERRAL_DETAIL:
        _REFERRAL_DETAIL[prefix] = reverse("referral-detail", args=[_REFERRAL_PLACEHOLDER])
    return _REFERRAL_DETAIL[prefix].replace(str(_REFERRAL_PLACEHOLDER), str(pk))


# An id no referral has (no other digits of the URL can hold it), and its URL per prefix.
_REFERRAL_PLACEHOLDER = 9_876_543_210_123
_REFERRAL_DETAIL: dict[str, str] = {}


def _pc_status(lead) -> str:
    referral = lead.latest_referral
    if not referral:
        return _dash()
    label = _labels(ReferralStatus).get(referral.status, referral.status)
    return f'<span class="badge badge-co-sell">{_text(label)}</span>'


def _pc_substatus(lead) -> str:
    referral = lead.latest_referral
    if not referral:
        return _dash()
    return _text(_labels(ReferralSubstatus).get(referral.substatus, referral.substatus))


def _deal_value(lead) -> str:
    referral = lead.latest_referral
    if referral and referral.deal_value is not None:
        return f"{_text(referral.deal_value)} {_text(referral.currency)}"
    return _dash()


def _close_date(lead) -> str:
    referral = lead.latest_referral
    day = referral.close_date if referral else None
    if not day:
        return _dash()
    iso = formats.date_format(day, "Y-m-d")
    shown = formats.date_format(day, "SHORT_DATE_FORMAT")
    return f'<time datetime="{escape(iso)}">{escape(shown)}</time>'


def _seller(lead) -> str:
    referral = lead.latest_referral
    if not (referral and (referral.seller_name or referral.seller_email)):
        return _dash()
    cell = _text(referral.seller_name)
    if referral.seller_email:
        cell += f' <span class="cell-email">{_text(referral.seller_email)}</span>'
    return cell


def _status(lead) -> str:
    status = escape(lead.status)
    label = _labels(LeadStatus).get(lead.status, lead.status)
    return f'<span class="badge badge-status-{status}">{_text(label)}</span>'


def _labels(choices) -> dict[str, str]:
    """The choices' labels in the active language, translated once a language."""
    key = (choices, get_language())
    if key not in _LABELS:
        _LABELS[key] = {value: str(label) for value, label in choices.choices}
    return _LABELS[key]


_LABELS: dict[tuple, dict[str, str]] = {}


def _campaign(lead) -> str:
    return _text(lead.latest_campaign.name) if lead.latest_campaign else _none()


_CELLS: dict[str, Callable[[object], str]] = {
    "email": lambda lead: f'<span class="cell-email">{_text(lead.email)}</span>',
    "company": lambda lead: _text(lead.company),
    "status": _status,
    "referral": _referral,
    "pc_status": _pc_status,
    "pc_substatus": _pc_substatus,
    "deal_value": _deal_value,
    "close_date": _close_date,
    "seller": _seller,
    "score": lambda lead: _text(lead.score),
    "listing": _listing,
    "campaign": _campaign,
    "title": lambda lead: _text(lead.title),
    "country": lambda lead: _text(lead.country),
    "created": lambda lead: _datetime(lead.created_at),
    "last_activity": lambda lead: _datetime(lead.last_activity_at),
}


def lead_cells_html(lead, columns: Iterable[Column]) -> str:
    """The `<td>` of each shown column, for one lead."""
    cells = []
    for column in columns:
        numeric = " numeric" if column.is_numeric else ""
        render = _CELLS.get(column.key)
        content = f"{render(lead)}\n" if render else ""
        cells.append(f'<td class="col-{escape(column.key)}{numeric}">{content}</td>')
    return "".join(cells) + "\n"


def lead_rows_html(*, leads, columns: list[Column], selected: Iterable) -> SafeString:
    """The table body's rows: a checkbox, the name linking to the lead, the shown columns.
    `selected`: the leads (UUIDs) to show ticked again."""
    ticked = {str(lead_uuid) for lead_uuid in selected}
    detail = reverse("lead-detail", args=[_PLACEHOLDER])
    test = f' <span class="badge badge-test">{escape(_("Test"))}</span>'
    select = _("Select %(lead)s")
    rows = []
    for lead in leads:
        uuid = str(lead.uuid)
        name = _text(str(lead))
        rows.append(
            _ROW.format(
                uuid=uuid,
                checked=" checked" if uuid in ticked else "",
                select=select % {"lead": name},
                href=escape(detail.replace(str(_PLACEHOLDER), uuid)),
                name=name,
                test=test if lead.is_test else "",
                cells=lead_cells_html(lead, columns),
            )
        )
    return mark_safe("".join(rows))  # noqa: S308  every value above is escaped
