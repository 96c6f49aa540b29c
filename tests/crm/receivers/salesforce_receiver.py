"""A strict Web-to-Lead receiver (reference/crm-contracts.md, Salesforce).

It refuses (and records why) anything but
  POST /servlet/servlet.WebToLead?encoding=UTF-8, application/x-www-form-urlencoded,
  a valid org id (15 or 18 characters starting 00D), every standard field present once,
  encoding=UTF-8, and no field beyond the standard ones and the configured extras.
Like Salesforce, it answers 200 to an accepted form whether or not it creates the lead:
past the daily cap (500 per org per 24 h by default) the lead goes to `over_cap`
("queued") instead of `leads`.
"""

import re
import time
from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

from tests.crm.receivers import LoopbackServer

PATH = "/servlet/servlet.WebToLead"
ORG_ID = re.compile(r"^00D[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?$")
STANDARD_FIELDS = frozenset(
    {
        "oid",
        "first_name",
        "last_name",
        "email",
        "company",
        "phone",
        "country",
        "title",
        "lead_source",
        "description",
        "encoding",
    }
)
DAY = 24 * 3600
THANK_YOU = b"<html><head><meta http-equiv='refresh' content='0;URL=/'></head></html>"


class SalesforceReceiver(LoopbackServer):
    def __init__(
        self,
        *,
        extra_fields: frozenset[str] = frozenset(),
        daily_cap: int = 500,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(tls=True)
        self.extra_fields = frozenset(extra_fields)
        self.daily_cap = daily_cap
        self.clock = clock
        self.leads: list[dict] = []  # created
        self.over_cap: list[dict] = []  # accepted with 200, queued past the cap
        self._created_at: dict[str, list[float]] = {}  # oid -> creation times

    def handle(self, method: str, path: str, headers: dict, body: bytes) -> tuple:
        form, reason = self._form(method, path, headers, body)
        if reason:
            return 400, {}, reason.encode(), 0.0, reason
        answer = self.next_answer()
        if answer.status == 200:
            self._create(form)
        headers = {"Content-Type": "text/html;charset=UTF-8", **answer.headers}
        return answer.status, headers, answer.body or THANK_YOU, answer.delay, ""

    def _create(self, form: dict) -> None:
        now = self.clock()
        with self.lock:
            window = [t for t in self._created_at.get(form["oid"], []) if now - t < DAY]
            if len(window) >= self.daily_cap:
                self.over_cap.append(form)
            else:
                self.leads.append(form)
                window.append(now)
            self._created_at[form["oid"]] = window

    def _form(self, method: str, path: str, headers: dict, body: bytes) -> tuple[dict, str]:
        url = urlsplit(path)
        if method != "POST":
            return {}, f"method {method} is not POST"
        if url.path != PATH:
            return {}, f"path {url.path} is not {PATH}"
        if url.query != "encoding=UTF-8":
            return {}, f"query {url.query!r} is not 'encoding=UTF-8'"
        if headers.get("content-type") != "application/x-www-form-urlencoded":
            return {}, f"content type {headers.get('content-type')!r} is not a form"
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            return {}, "the body is not a UTF-8 form"
        return self._fields(pairs)

    def _fields(self, pairs: list[tuple[str, str]]) -> tuple[dict, str]:
        form = dict(pairs)
        if len(form) != len(pairs):
            return {}, "a field appears twice"
        missing = sorted(STANDARD_FIELDS - form.keys())
        if missing:
            return {}, f"missing fields: {missing}"
        unknown = sorted(form.keys() - STANDARD_FIELDS - self.extra_fields)
        if unknown:
            return {}, f"unknown fields: {unknown}"
        if not ORG_ID.match(form["oid"]):
            return {}, f"oid {form['oid']!r} is not an organization id"
        if form["encoding"] != "UTF-8":
            return {}, f"encoding {form['encoding']!r} is not UTF-8"
        return form, ""
