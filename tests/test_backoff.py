from __future__ import annotations

import email.utils
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatcher.backoff import (
    RetryIn,
    RetryPolicy,
    backoff_bounds,
    backoff_delay,
    parse_retry_after,
    retry_delay,
)


class FakeClock:
    """Time that moves only when told: the retry schedule without a single real sleep."""

    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds


def test_exponential_from_the_interval_with_jitter_inside_bounds() -> None:
    clock = FakeClock()
    starts = []
    for attempt, rand in zip(range(1, 7), (0.0, 0.5, 0.99, 0.1, 0.7, 0.3), strict=True):
        starts.append(clock.now)
        clock.sleep(
            backoff_delay(attempt, interval_s=1.0, max_interval_s=100.0, jitter=0.2, rand=rand)
        )
    waits = [b - a for a, b in itertools.pairwise(starts)]
    for n, wait in enumerate(waits, 1):
        assert 2 ** (n - 1) <= wait <= 2 ** (n - 1) * 1.2
    assert waits == sorted(waits)


def test_cap_applies_after_jitter() -> None:
    assert backoff_delay(30, interval_s=1, max_interval_s=60, jitter=1, rand=0.99) == 60
    assert backoff_delay(10_000, interval_s=1, max_interval_s=5, jitter=0, rand=0) == 5


@given(
    attempt=st.integers(1, 5000),
    interval=st.floats(0.001, 100),
    cap_factor=st.floats(1, 1000),
    jitter=st.floats(0, 1),
    rand=st.floats(0, 1, exclude_max=True),
)
def test_delay_always_inside_its_bounds(
    attempt: int, interval: float, cap_factor: float, jitter: float, rand: float
) -> None:
    cap = interval * cap_factor
    delay = backoff_delay(
        attempt, interval_s=interval, max_interval_s=cap, jitter=jitter, rand=rand
    )
    low, high = backoff_bounds(attempt, interval_s=interval, max_interval_s=cap, jitter=jitter)
    assert interval <= delay or delay == cap
    assert low <= delay <= high <= cap


@given(attempt=st.integers(1, 30))
def test_each_floor_doubles_the_last_until_the_cap(attempt: int) -> None:
    lo_next, _ = backoff_bounds(attempt + 1, interval_s=0.5, max_interval_s=1e9, jitter=0.2)
    lo, _ = backoff_bounds(attempt, interval_s=0.5, max_interval_s=1e9, jitter=0.2)
    assert lo_next == pytest.approx(2 * lo)


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("7", 0) == 7
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(date, now) == pytest.approx(30)
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_retry_after_wins_when_longer_but_is_capped() -> None:
    assert retry_delay(1.0, 5.0, 60) == 5.0
    assert retry_delay(1.0, 500.0, 60) == 60
    assert retry_delay(8.0, 2.0, 60) == 8.0
    assert retry_delay(1.0, None, 60) == 1.0


def test_retry_after_takes_ascii_digits_and_all_three_http_date_forms() -> None:
    now = 784_111_777.0  # Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's own example instant
    assert parse_retry_after(" 120 ", now) == 120
    for form in (
        "Sun, 06 Nov 1994 08:50:37 GMT",  # IMF-fixdate
        "Sunday, 06-Nov-94 08:50:37 GMT",  # obsolete RFC 850
        "Sun Nov  6 08:50:37 1994",  # obsolete asctime
    ):
        assert parse_retry_after(form, now) == pytest.approx(60), form
    assert parse_retry_after("Sun, 06 Nov 1994 08:40:37 GMT", now) == 0  # in the past
    assert parse_retry_after("9" * 5000, now) == float("inf")  # legal, capped by the caller


@pytest.mark.parametrize(
    "value",
    ["²", "٣", "１２", "-5", "1.5", "+3", "0x10", "", "Sun, 99 Nov 1994 08:50:37 GMT"],
)
def test_retry_after_ignores_what_is_not_delay_seconds_or_a_date(value: str) -> None:
    assert parse_retry_after(value, 1_700_000_000.0) is None


@given(st.text())
def test_retry_after_never_raises_on_any_text(value: str) -> None:
    result = parse_retry_after(value, 1_700_000_000.0)
    assert result is None or result >= 0


@given(st.binary())
def test_retry_after_never_raises_on_any_header_bytes(raw: bytes) -> None:
    # Both clients hand header bytes over decoded as latin-1: 0xB2 arrives as "²".
    result = parse_retry_after(raw.decode("latin-1"), 1_700_000_000.0)
    assert result is None or result >= 0


@given(
    attempts=st.integers(1, 19),
    retry_after=st.one_of(st.none(), st.floats(0, 1e6)),
    rand=st.floats(0, 1, exclude_max=True),
)
def test_the_retry_policy_waits_within_its_bounds_and_pauses_for_retry_after(
    attempts: int, retry_after: float | None, rand: float
) -> None:
    policy = RetryPolicy(20, interval_s=0.5, max_interval_s=30, jitter=0.2, retry_after_max_s=60)
    step = policy.decide(attempts, False, retry_after, lambda: rand)
    assert isinstance(step, RetryIn)
    low, high = backoff_bounds(attempts, interval_s=0.5, max_interval_s=30, jitter=0.2)
    assert low <= step.delay_s <= max(high, 60)
    if retry_after is None:
        assert step.pause_s is None
        assert step.delay_s <= high
    else:
        assert step.pause_s == min(retry_after, 60)
        assert step.delay_s >= step.pause_s
    assert policy.decide(20, False, retry_after, lambda: rand) == "exhausted"
    assert policy.decide(attempts, True, retry_after, lambda: rand) == "delivered"
