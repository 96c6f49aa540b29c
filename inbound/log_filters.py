"""A logging filter that keeps inbound URL tokens out of every log line.

The token of a Partner Center inbound URL is in its path, and Django logs the path of
each 4xx and 5xx answer ("Not Found: /api/v1/inbound/partner-center/<token>/", logger
django.request) and of each request under runserver (django.server). settings.LOGGING
puts this filter on those loggers and on the console handler; it rewrites the message
with the token replaced by "…", and drops the request from the record, so no formatter
or handler can print it later. gunicorn's access log, with deploy/gunicorn.conf.py,
masks the path with `token_mask` too (docs/operations.md).
"""

import logging
import re

TOKEN_IN_PATH = re.compile(r"(/inbound/partner-center/)[^/\s?\"']+")
MASK = r"\1…"


def token_mask(text: str) -> str:
    return TOKEN_IN_PATH.sub(MASK, text)


class InboundTokenFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the handler's to report, unchanged
            return True
        if "/partner-center/" in message:
            record.msg, record.args = token_mask(message), ()
        request = getattr(record, "request", None)
        if request is not None and "/partner-center/" in getattr(request, "path", ""):
            record.request = None
        return True
