"""The send window's arithmetic (leads.nurture.window), across midnight and DST."""

from datetime import UTC, datetime

from leads.nurture.window import window_next_open


def opens(now: datetime, start: int | None, end: int | None, tz: str = "Europe/Madrid"):
    return window_next_open(now=now, time_zone=tz, start=start, end=end)


def test_no_window_or_inside_it_means_now():
    now = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # 10:00 in Madrid
    assert opens(now, None, None) is None
    assert opens(now, 9, 18) is None
    assert opens(now, 22, 11) is None  # across midnight, still inside


def test_after_the_window_it_opens_the_next_day_at_the_local_hour():
    now = datetime(2026, 11, 2, 19, 0, tzinfo=UTC)  # 20:00 in Madrid
    assert opens(now, 9, 18) == datetime(2026, 11, 3, 8, 0, tzinfo=UTC)


def test_the_local_hour_holds_across_the_dst_change():
    # Madrid leaves summer time on 25 October 2026: 09:00 is 07:00 UTC before, 08:00 after
    now = datetime(2026, 10, 24, 18, 0, tzinfo=UTC)  # 20:00 summer time
    assert opens(now, 9, 18) == datetime(2026, 10, 25, 8, 0, tzinfo=UTC)
    before = datetime(2026, 10, 23, 18, 0, tzinfo=UTC)
    assert opens(before, 9, 18) == datetime(2026, 10, 24, 7, 0, tzinfo=UTC)
