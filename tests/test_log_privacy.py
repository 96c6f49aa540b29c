"""The log-privacy plugin (tests/log_privacy.py) sees what a log line would hold."""

import logging
import sys

from tests import log_privacy


def _record(msg, *args, **extra) -> logging.LogRecord:
    record = logging.LogRecord("crm.services", logging.INFO, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_a_marker_in_the_message_its_arguments_or_an_extra_is_found():
    handler = log_privacy.LeakHandler()
    handler.test = "t"

    handler.emit(_record("sent to %s", "QWX.person.marker@leak.example"))
    handler.emit(_record("crm.delivery.failed", error="from Qwxcompany Ltd"))
    handler.emit(_record("crm.delivery.delivered", target_id=7, count=1))

    assert [found for _test, _where, found in handler.leaks] == [
        ["qwx.person.marker@leak.example"],
        ["qwxcompany"],
    ]


def test_a_marker_in_an_exceptions_text_is_found():
    handler = log_privacy.LeakHandler()
    try:
        raise ValueError("no such user zqxmark.person@zqxmark.example")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", (), None)
        record.exc_info = sys.exc_info()
    handler.emit(record)

    assert handler.leaks[0][2] == ["zqxmark"]


def test_the_plugin_watches_the_root_logger_during_the_tests():
    assert log_privacy._handler in logging.getLogger().handlers


def test_the_test_sets_own_smtp_server_is_not_the_application():
    handler = log_privacy.LeakHandler()
    record = logging.LogRecord(
        "mail.log", logging.INFO, __file__, 1, "recip: %s", ("zqxmark@x.example",), None
    )

    handler.emit(record)

    assert handler.leaks == []
