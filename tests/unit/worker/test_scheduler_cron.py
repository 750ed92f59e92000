"""Next-tick arithmetic of trigger schedules, in time zones with daylight-saving changes."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from runtime.worker.scheduler import ScheduleError, check_schedule, next_fire

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def _at(tz: ZoneInfo, year: int, month: int, day: int, hour: int, minute: int) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=tz).timestamp()


def _ticks(schedule: str, zone: str, start: float, count: int) -> list[datetime]:
    out, after = [], start
    for _ in range(count):
        after = next_fire(schedule, zone, after)
        out.append(datetime.fromtimestamp(after, ZoneInfo(zone)))
    return out


def test_daily_tick_keeps_its_wall_clock_time_across_both_changes() -> None:
    march = _ticks("0 9 * * *", "Europe/Berlin", _at(BERLIN, 2026, 3, 27, 12, 0), 3)
    assert [(t.day, t.hour, t.minute) for t in march] == [(28, 9, 0), (29, 9, 0), (30, 9, 0)]
    assert march[1].timestamp() - march[0].timestamp() == 23 * 3600  # the short day
    october = _ticks("0 9 * * *", "Europe/Berlin", _at(BERLIN, 2026, 10, 23, 12, 0), 2)
    assert october[1].timestamp() - october[0].timestamp() == 25 * 3600  # the long day


def test_a_time_in_the_spring_gap_runs_once_right_after_it() -> None:
    ticks = _ticks("30 2 * * *", "Europe/Berlin", _at(BERLIN, 2026, 3, 28, 12, 0), 2)
    assert (ticks[0].day, ticks[0].hour, ticks[0].minute) == (29, 3, 0)  # 02:30 does not exist
    assert (ticks[1].day, ticks[1].hour, ticks[1].minute) == (30, 2, 30)


def test_a_time_in_the_repeated_autumn_hour_runs_once() -> None:
    ticks = _ticks("30 1 * * *", "America/New_York", _at(NEW_YORK, 2026, 10, 31, 12, 0), 2)
    assert [(t.day, t.hour, t.minute) for t in ticks] == [(1, 1, 30), (2, 1, 30)]
    assert ticks[1].timestamp() - ticks[0].timestamp() == 25 * 3600


def test_hourly_fires_every_real_hour_through_the_repeated_one() -> None:
    start = _at(BERLIN, 2026, 10, 25, 0, 30)
    ticks = _ticks("0 * * * *", "Europe/Berlin", start, 4)
    gaps = {b.timestamp() - a.timestamp() for a, b in itertools.pairwise(ticks)}
    assert gaps == {3600.0}


def test_next_is_strictly_after() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC).timestamp()
    assert next_fire("* * * * *", "UTC", now) == now + 60
    assert next_fire("* * * * *", "UTC", now + 0.5) == now + 60


@pytest.mark.parametrize(
    ("schedule", "zone", "field"),
    [
        ("61 * * * *", "UTC", "schedule"),
        ("every minute", "UTC", "schedule"),
        ("* * * *", "UTC", "schedule"),
        ("0 0 30 2 *", "UTC", "schedule"),
        ("* * * * *", "Mars/Olympus", "time_zone"),
        ("* * * * *", "../etc/passwd", "time_zone"),
    ],
)
def test_bad_schedules_and_zones_name_their_field(schedule: str, zone: str, field: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        check_schedule(schedule, zone)
    assert caught.value.field == field
