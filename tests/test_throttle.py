"""The AIMD controller and the start pacer, on a fake clock (no sleeping anywhere)."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatcher.throttle import AimdLimiter, AimdParams, Pacer, WindowStats, aimd_decide

P = AimdParams()


def window(attempts: int, failures: int) -> WindowStats:
    return WindowStats(attempts, failures)


def test_cut_in_half_above_threshold_and_grows_by_sqrt_when_healthy() -> None:
    assert aimd_decide(500, 500, window(100, 90), P) == 250
    assert aimd_decide(100, 500, window(100, 0), P) == 110
    assert aimd_decide(1, 500, window(100, 100), P) == 1
    assert aimd_decide(499, 500, window(100, 0), P) == 500


def test_small_windows_change_nothing() -> None:
    assert aimd_decide(300, 500, window(19, 19), P) == 300


def test_threshold_is_strict() -> None:
    assert aimd_decide(100, 500, window(100, 20), P) > 100
    assert aimd_decide(100, 500, window(100, 21), P) == 50


@given(
    limit=st.integers(1, 500),
    cap=st.integers(1, 500),
    attempts=st.integers(0, 10_000),
    failure_share=st.floats(0, 1),
    threshold=st.floats(0.01, 0.99),
    decrease=st.floats(0.01, 0.99),
)
def test_limit_always_between_one_and_the_cap(
    limit: int, cap: int, attempts: int, failure_share: float, threshold: float, decrease: float
) -> None:
    limit = min(limit, cap)
    params = AimdParams(threshold=threshold, decrease=decrease)
    failures = round(attempts * failure_share)
    new = aimd_decide(limit, cap, window(attempts, failures), params)
    assert 1 <= new <= cap
    if attempts >= params.min_samples:
        if failures / attempts > threshold:
            assert new <= limit
        else:
            assert new >= limit


@given(cap=st.integers(1, 500), bad=st.integers(1, 30))
def test_falls_under_failure_and_climbs_back_to_the_cap(cap: int, bad: int) -> None:
    limit = cap
    for _ in range(bad):
        limit = aimd_decide(limit, cap, window(50, 50), P)
    assert limit <= max(1, cap // 2)
    windows = 0
    while limit < cap:
        limit = aimd_decide(limit, cap, window(50, 0), P)
        windows += 1
    # Additive increase of ceil(sqrt(limit)) recovers 1 → 500 in well under 60 windows.
    assert windows <= 60


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0


def test_pacer_spaces_a_burst_evenly() -> None:
    clock = FakeClock()
    pacer = Pacer(1000, tolerance_s=0)
    starts = [clock.now + pacer.reserve(clock.now) for _ in range(1000)]
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(starts)}
    assert gaps == {0.001}
    assert starts[-1] == pytest.approx(0.999)


@given(
    rate=st.sampled_from([50, 1000, 5000]),
    oversleep=st.floats(0, 0.002),
)
def test_pacer_keeps_the_rate_when_its_caller_oversleeps(rate: int, oversleep: float) -> None:
    """asyncio.sleep wakes late; the schedule must not drift by that much per request."""
    clock = FakeClock()
    pacer = Pacer(rate)
    starts = []
    for _ in range(rate * 2):
        wait = pacer.reserve(clock.now)
        if wait > 0:
            clock.now += wait + oversleep
        starts.append(clock.now)
    achieved = (len(starts) - 1) / (starts[-1] - starts[0])
    assert achieved == pytest.approx(rate, rel=0.01)
    per_slice = Counter(int(s * 100) for s in starts)
    assert max(per_slice.values()) <= max(2, 2 * rate / 100)


@given(
    rate=st.sampled_from([100, 1000, 5000]),
    arrivals=st.lists(st.floats(0, 2), min_size=1, max_size=2000),
)
def test_pacer_never_exceeds_its_share_of_any_10ms_slice(rate: int, arrivals: list[float]) -> None:
    pacer = Pacer(rate)
    starts = [t + pacer.reserve(t) for t in sorted(arrivals)]
    per_slice = Counter(int(s * 100) for s in starts)
    share = rate / 100
    assert max(per_slice.values()) <= max(2, 2 * share)
    # Over any stretch, no more than the rate plus the tolerance's worth.
    span = starts[-1] - starts[0]
    assert len(starts) <= span * rate + pacer.tolerance_s * rate + 1 + 1e-6


def test_pacer_does_not_bank_idle_time() -> None:
    pacer = Pacer(10, tolerance_s=0)
    assert pacer.reserve(0.0) == 0
    # Ten seconds of silence earn no burst: the next two starts are still 0.1 s apart.
    assert pacer.reserve(10.0) == 0
    assert pacer.reserve(10.0) == pytest.approx(0.1)


def test_the_limiter_decides_once_per_window_and_only_on_enough_samples() -> None:
    limiter = AimdLimiter(100, AimdParams(window_s=1.0, min_samples=10), now=0.0)
    assert all(limiter.record(0.1 * i, ok=False) is None for i in range(9))  # too few, too soon
    assert limiter.record(1.0, ok=False) == WindowStats(10, 10)  # 1 s and 10 samples: decided
    assert limiter.limit == 50
    assert limiter.record(1.5, ok=True) is None  # a new window, opened at 1.0
    for _ in range(9):
        limiter.record(2.0, ok=True)
    assert limiter.limit == 50 + math.ceil(math.sqrt(50))


def test_the_limiter_without_params_counts_and_never_moves() -> None:
    limiter = AimdLimiter(100, None, now=0.0)
    assert all(limiter.record(float(t), ok=False) is None for t in range(1000))
    assert limiter.limit == 100
    assert (limiter.attempts, limiter.failures) == (1000, 1000)
