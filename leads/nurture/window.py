"""A publisher's send window: the hours, in its time zone, when nurture emails go out.

`send_window_start`–`send_window_end` (hours 0–23, the end excluded) in `time_zone`; a start
later than the end spans midnight (22 to 6). Both empty: any time (docs/email.md).
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


def window_next_open(
    *, now: datetime, time_zone: str, start: int | None, end: int | None
) -> datetime | None:
    """None when `now` is inside the window (or there is none), else when it next opens."""
    if start is None or end is None or start == end:
        return None
    local = now.astimezone(ZoneInfo(time_zone))
    hour = local.hour
    inside = start <= hour < end if start < end else (hour >= start or hour < end)
    if inside:
        return None
    opens = local.replace(hour=start, minute=0, second=0, microsecond=0)
    if opens <= local:
        opens = (local + timedelta(days=1)).replace(hour=start, minute=0, second=0, microsecond=0)
    return opens  # zoneinfo arithmetic is wall-clock: the hour holds across DST changes
