"""A pytest plugin (`-p tests.log_privacy`): no log line of the whole suite holds a marker
of the privacy tests (a person's name, email, phone, company) or a test secret.

A handler on the root logger reads every record the application logs in the test process
as the console handler would write it in JSON (the message, its `extra=` fields and any
traceback). At the end of the session, any record that held a marker is reported and the session
fails. Subprocesses (workers, beat, gunicorn) log to their own files: their tests scan
those (e.g. tests/portal/test_request_id.py).
"""

import logging

import pytest

from portal.observability import JsonFormatter

# The privacy work's markers (tests/privacy/, tests/crm/erasure_support.py) and the
# suite's secret sentinels (tests/crm/, tests/inbound/, tests/portal/tenancy_world.py).
MARKERS = (
    "zqcomplete",
    "zqxmark",
    "qwx.person.marker@leak.example",
    "qwxfirst",
    "qwxlast",
    "qwxcompany",
    "qwxtitle",
    "qwxdescription",
    "7946 3141",
    "sentinel.person@leak.example",
    "marker-retention-7f3a",
    "whsec_sentinel-",
    "sentinel-crm-secret-7f3a9c",
    "u0vovelotvetywnjb3vudc1rzxktbmv2zxitc2hvd24=",
)
_LINE = JsonFormatter()
# The test set's own servers, which stand for the outside world and are never deployed:
# aiosmtpd (the loopback SMTP server) logs each recipient it is sent.
OUTSIDE_LOGGERS = ("mail.log",)


def record_text(record: logging.LogRecord) -> str:
    """What the console handler writes of the record: the JSON line (LOG_FORMAT=json,
    which holds everything the plain line does, and the `extra=` fields), with any
    traceback."""
    try:
        return _LINE.format(record)
    except Exception:  # a bad format string is the application's bug, not a leak
        return f"{record.msg} {record.args!r}"


def markers_in(text: str) -> list[str]:
    lowered = text.lower()
    return [marker for marker in MARKERS if marker in lowered]


class LeakHandler(logging.Handler):
    """Keeps, for every record holding a marker, the test, the logger and the markers."""

    def __init__(self) -> None:
        super().__init__(level=logging.NOTSET)
        self.test = "(collection)"
        self.leaks: list[tuple[str, str, list[str]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(OUTSIDE_LOGGERS):
            return
        found = markers_in(record_text(record))
        if found:
            self.leaks.append((self.test, f"{record.name}: {record.msg!s:.80}", found))


_handler = LeakHandler()


def _attach() -> None:
    # Django's LOGGING (dictConfig) replaces the root's handlers: attach again if gone.
    root = logging.getLogger()
    if _handler not in root.handlers:
        root.addHandler(_handler)


def pytest_sessionstart(session) -> None:
    _attach()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item) -> None:
    _attach()
    _handler.test = item.nodeid


def pytest_sessionfinish(session, exitstatus) -> None:
    if not _handler.leaks:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [
        f"{test} | {where} | markers: {', '.join(found)}" for test, where, found in _handler.leaks
    ]
    if reporter is not None:
        reporter.section("personal data or secrets in log records", sep="=", red=True)
        for line in lines[:50]:
            reporter.write_line(line)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
