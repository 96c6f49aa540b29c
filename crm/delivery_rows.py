"""The rows of the deliveries table, rendered in Python.

Rendered by the template engine, a page of 50 deliveries cost most of the page's CPU:
per row three `{% url %}`, two or three `get_…_display` (each rebuilds its choices'
dict, translating every label), a `{% csrf_token %}`, `{% blocktranslate %}` and the
`date` and `truncatechars` filters. This writes the same HTML in a few milliseconds;
`templates/crm/_delivery_table.html` places it with `{{ delivery_rows }}`. Every value is
escaped as a template variable would be (translated text is not, as `{% translate %}`
leaves it); times are shown in the current time zone and the active language's formats.
The redeliver form's CSRF token is the request's (any
masked copy of its secret is valid).
"""

from collections.abc import Iterable

from django.middleware.csrf import get_token
from django.urls import get_script_prefix, reverse
from django.utils import dateformat, formats, timezone
from django.utils.html import conditional_escape, escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from crm.models import Delivery, ErasureMode

# Ids no row has, reversed once a script prefix: each row's link is this with its own id.
_PLACEHOLDER_ID = 9_876_543_210_123
_PLACEHOLDER_UUID = "00000000-0000-0000-0000-000000000000"
_URLS: dict[str, dict[str, str]] = {}
_LABELS: dict[tuple, dict[str, str]] = {}


def _urls() -> dict[str, str]:
    prefix = get_script_prefix()
    if prefix not in _URLS:
        _URLS[prefix] = {
            "lead": reverse("lead-detail", args=[_PLACEHOLDER_UUID]),
            "target": reverse("crm-target-detail", args=[_PLACEHOLDER_ID]),
            "redeliver": reverse("crm-delivery-redeliver", args=[_PLACEHOLDER_ID]),
        }
    return _URLS[prefix]


def _labels(choices) -> dict[str, str]:
    """The choices' labels in the active language, translated once a language."""
    key = (choices, get_language())
    if key not in _LABELS:
        _LABELS[key] = {value: str(label) for value, label in choices.choices}
    return _LABELS[key]


def _text(value) -> str:
    """A value as `{{ value }}` shows it: localized, then escaped."""
    return conditional_escape(formats.localize(value, use_l10n=True))


def _when(value) -> str:
    """`{{ value|date:"SHORT_DATETIME_FORMAT" }}`."""
    local = timezone.template_localtime(value)
    return escape(dateformat.format(local, formats.get_format("SHORT_DATETIME_FORMAT")))


def _display(choices, value: str) -> str:
    return _text(_labels(choices).get(value, value))


def _lead_cell(delivery: Delivery, urls: dict[str, str]) -> str:
    lead = delivery.lead
    if not lead:
        return _("Test lead")
    href = escape(urls["lead"].replace(_PLACEHOLDER_UUID, str(lead.uuid)))
    return f'<a href="{href}">{_text(str(lead))}</a>'


def _event_cell(delivery: Delivery) -> str:
    cell = _display(Delivery.Event, delivery.event)
    if delivery.outcome:
        cell += f'<br><span class="small">{_display(Delivery.Outcome, delivery.outcome)}</span>'
    elif delivery.erasure_mode:
        mode = _display(ErasureMode, delivery.erasure_mode)
        cell += f'<br><span class="small muted">{mode}</span>'
    return cell


def _status_cell(delivery: Delivery) -> str:
    status = _display(Delivery.Status, delivery.status)
    cell = f'<td><span class="badge badge-{_text(delivery.status)}">{status}</span>\n              '
    if delivery.status == "pending" and delivery.next_attempt_at:
        when = _("next try %(when)s") % {"when": _when(delivery.next_attempt_at)}
        cell += f'<br><span class="small muted">{when}</span>'
    return cell + "\n            </td>"


def _answer_cell(delivery: Delivery) -> str:
    cell = "<td>\n              "
    if delivery.last_status_code:
        code = _("HTTP %(code)s") % {"code": _text(delivery.last_status_code)}
        cell += f'<span class="small">{code}</span>'
    cell += "\n              "
    if delivery.last_error:
        error = escape(Truncator(delivery.last_error).chars(200))
        cell += f'<div class="excerpt">{error}</div>'
    elif delivery.response_excerpt:
        excerpt = escape(Truncator(delivery.response_excerpt).chars(120))
        cell += f'<div class="excerpt muted">{excerpt}</div>'
    return cell + "\n            </td>"


def _redeliver_cell(delivery: Delivery, urls: dict[str, str], form: dict[str, str]) -> str:
    cell = "\n              <td>\n                "
    if delivery.lead_id and delivery.status != "sending" and not delivery.erasure_mode:
        action = escape(urls["redeliver"].replace(str(_PLACEHOLDER_ID), str(delivery.pk)))
        which = _("the lead %(lead)s") % {"lead": _text(str(delivery.lead))}
        cell += (
            f'\n                  <form method="post" action="{action}">\n'
            f'                    <input type="hidden" name="csrfmiddlewaretoken" '
            f'value="{form["csrf"]}">\n'
            f'                    <input type="hidden" name="next" value="{form["next"]}">\n'
            f'                    <button type="submit" class="button button-secondary">'
            f'{form["label"]}<span class="visually-hidden"> {which}</span></button>\n'
            "                  </form>\n                "
        )
    return cell + "\n              </td>\n            "


def delivery_rows_html(
    *, request, deliveries: Iterable[Delivery], show_target: bool, is_owner: bool
) -> SafeString:
    """The table body's rows (the target column `show_target`, the redeliver form for an
    owner)."""
    urls = _urls()
    form = {}
    if is_owner:
        form = {
            "csrf": escape(get_token(request)),
            "next": escape(request.get_full_path()),
            "label": _("Redeliver"),
        }
    rows = []
    for delivery in deliveries:
        target = ""
        if show_target:
            href = escape(urls["target"].replace(str(_PLACEHOLDER_ID), str(delivery.target_id)))
            target = f'<td><a href="{href}">{_text(delivery.target.name)}</a></td>'
        rows.append(
            "\n          <tr>\n"
            f"            <td>{_when(delivery.created_at)}</td>\n"
            f'            <th scope="row">{_lead_cell(delivery, urls)}</th>\n'
            f"            {target}\n"
            f"            <td>{_event_cell(delivery)}</td>\n"
            f"            {_status_cell(delivery)}\n"
            f"            <td>{_text(delivery.attempts)}</td>\n"
            f"            {_answer_cell(delivery)}\n"
            f"            {_redeliver_cell(delivery, urls, form) if is_owner else ''}\n"
            "          </tr>\n        "
        )
    return mark_safe("".join(rows))  # noqa: S308  every value above is escaped
