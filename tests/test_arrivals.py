"""Arrival schedules on a fake clock: the offsets are the clock."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher.arrivals import RateProfile, parse_duration
from dispatcher.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "seconds"), [("10", 10), ("10s", 10), ("2m", 120), ("1h", 3600), ("500ms", 0.5)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "ten", "5 minutes", "-1", "1d"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ConfigError, match="--duration"):
        parse_duration(text)


@pytest.mark.parametrize("rate", [1000, 5000])
def test_constant_rate_is_exact_and_even(rate: int) -> None:
    offsets = list(RateProfile.constant(rate, 2.0).offsets())
    assert len(offsets) == 2 * rate
    per_slice = Counter(int(t * 100 + 1e-9) for t in offsets)
    assert set(per_slice.values()) == {rate // 100}


def test_ramp_follows_the_integral() -> None:
    profile = RateProfile.parse_ramp("0:50,30s:2000,60s:2000")
    assert profile.duration_s == 60
    assert profile.total == pytest.approx((50 + 2000) / 2 * 30 + 2000 * 30)
    offsets = list(profile.offsets())
    assert abs(len(offsets) - profile.total) <= 1
    # Arrivals per second follow the ramp: about 50 at first, 2000 once it holds.
    per_second = Counter(int(t) for t in offsets)
    assert per_second[0] == pytest.approx(50 + 65 / 2, abs=2)
    assert per_second[45] == 2000
    assert offsets == sorted(offsets)


# Up to ~60,000 offsets per example: no wall-clock deadline, which a busy machine would miss.
@settings(deadline=None)
@given(
    points=st.lists(st.tuples(st.floats(0.1, 5), st.floats(0, 3000)), min_size=1, max_size=4),
    start=st.floats(0, 3000),
)
def test_any_profile_gives_its_total_in_order(
    points: list[tuple[float, float]], start: float
) -> None:
    t = 0.0
    pts = [(0.0, start)]
    for dt, rate in points:
        t += dt
        pts.append((t, rate))
    profile = RateProfile(tuple(pts))
    offsets = list(profile.offsets())
    assert abs(len(offsets) - profile.total) <= len(pts)
    assert all(0 <= a <= b < profile.duration_s for a, b in itertools.pairwise(offsets))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10s:5,20s:5", "first point must be at time 0"),
        ("0:5", "two or more points"),
        ("0:5,0:6", "rising times"),
        ("0:five,1s:5", "not a number"),
        ("0-5,1s:5", "is not TIME:RATE"),
        ("0:1e308,1h:1e308", r"rate '1e308' must be from 0 to 1000000 per second"),
        ("0:inf,1s:5", "rate 'inf' must be from 0 to 1000000"),
        ("0:nan,1s:5", "rate 'nan' must be from 0 to 1000000"),
        ("0:-1,1s:5", "rate '-1' must be from 0 to 1000000"),
        ("0:5,169h:5", r"--ramp = '169h': at most 168h \(a week\)"),
        ("0:0,1h:0", "asks for less than one arrival in all"),
        ("0:0.1,1s:0.1", "asks for less than one arrival in all"),
    ],
)
def test_bad_ramps(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        RateProfile.parse_ramp(text)
    assert "\n" not in str(info.value)


def test_the_largest_ramp_still_has_an_exact_count() -> None:
    # The bounds keep every arrival index exact in a float, so the schedule always ends.
    profile = RateProfile.parse_ramp("0:1000000,168h:1000000")
    assert profile.total == 1_000_000 * 168 * 3600
    assert profile.total < 2**53


@pytest.mark.parametrize("text", ["169h", "604801", "9" * 5000, "9" * 400 + "ms", "\u0663s"])
def test_durations_beyond_a_week_or_not_ascii_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^--duration = '") as info:
        parse_duration(text)
    assert len(str(info.value)) < 200


def test_a_week_is_allowed() -> None:
    assert parse_duration("168h") == 7 * 24 * 3600
