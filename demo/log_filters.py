"""The storefront simulator's deliberate bad leads stay out of the `make run` terminal.

The simulator (demo.simulation, Kind.BAD) posts a share of invalid leads on purpose and
marks each with the `X-Demo-Simulator: bad-lead` header. Django logs every 4xx answer as
a warning (`django.request`); this filter, installed on that logger by the demo app (so
only where the demo is, DEBUG or DEMO_ENABLED), turns those refusals into a DEBUG line of
`demo.simulator`, and the simulator counts them in its one line a minute. Any other 4xx
still logs its warning.
"""

import logging

BAD_LEAD_HEADER = "X-Demo-Simulator"
BAD_LEAD_VALUE = "bad-lead"

logger = logging.getLogger("demo.simulator")


class DeliberateBadLeadFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        status = getattr(record, "status_code", None)
        if request is None or status is None or not 400 <= status < 500:
            return True
        if getattr(request, "headers", {}).get(BAD_LEAD_HEADER) != BAD_LEAD_VALUE:
            return True
        logger.debug("demo.simulator.bad_lead_refused", extra={"status_code": status})
        return False
