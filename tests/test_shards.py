"""Splitting one plan over workers and shards: property tests of the counter-based plan and
the whole-number splits, the shard flags, and the start instant on virtual time."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher.arrivals import RateProfile
from dispatcher.engine import Engine, EngineOptions, Start
from dispatcher.errors import ConfigError
from dispatcher.lanes import Lane
from dispatcher.load import LoadPlan, worker_settings
from dispatcher.settings import Settings, TrafficSettings
from dispatcher.shards import LateStart, Shard, parse_start_at, rfc3339, share
from dispatcher.testing import virtualtime
from dispatcher.testing.memory import MemoryTransport
from dispatcher.traffic import MAX_DEFER, TrafficPlan

Key = tuple[int, bytes, bool]


def items(plan: TrafficPlan, first: int, step: int) -> list[Key]:
    return [(slot, note.body, note.duplicate) for slot, note in plan.lane(first, step)]


plans = st.builds(
    TrafficPlan,
    count=st.integers(1, 300),
    flow=st.sampled_from(["by-unico", "by-client"]),
    duplicates=st.sampled_from([0.0, 0.1, 0.5, 1.0]),
    reorder=st.sampled_from([0.0, 0.5, 1.0]),
    unknown=st.sampled_from([0.0, 0.2]),
    seed=st.integers(0, 2**63),
)


@settings(max_examples=60, deadline=None)
@given(plan=plans, shards=st.integers(1, 9), workers=st.integers(1, 4))
def test_shards_are_disjoint_and_together_the_whole_plan(
    plan: TrafficPlan, shards: int, workers: int
) -> None:
    whole = items(plan, 0, 1)
    parts: list[Key] = []
    for k in range(shards):
        shard = Shard(k, shards)
        for w in range(workers):
            lane = items(plan, *shard.lane(w, workers))
            # Each lane's slots never go back: its instants are a schedule.
            assert all(a[0] <= b[0] for a, b in itertools.pairwise(lane))
            parts += lane
    assert Counter(parts) == Counter(whole)  # same bodies, same slots, nothing twice
    processes = {note.process_id for note in plan}
    assert len(processes) == plan.count


@settings(max_examples=40, deadline=None)
@given(plan=plans)
def test_every_slot_is_a_process_and_deferred_ones_come_back_soon(plan: TrafficPlan) -> None:
    for slot, note in plan.lane(0, 1):
        assert 0 <= slot < plan.count
        own = [n for s, n in plan.process(slot) if n.process_id == note.process_id]
        if not own:  # deferred from an earlier process, at most MAX_DEFER slots back
            assert any(
                n.body == note.body
                for p in range(max(0, slot - 2 * MAX_DEFER), slot)
                for _, n in plan.process(p)
            )


@given(total=st.integers(0, 10_000), parts=st.integers(1, 500))
def test_whole_numbers_split_exactly(total: int, parts: int) -> None:
    split = [share(total, parts, i) for i in range(parts)]
    assert sum(split) == total
    assert max(split) - min(split) <= 1


@settings(max_examples=60, deadline=None)
@given(shards=st.integers(1, 8), workers=st.integers(1, 8), extra=st.integers(0, 100),
       max_rate=st.sampled_from([None, 10.0, 1000.0]))  # fmt: skip
def test_the_cap_and_max_rate_split_with_no_part_below_one(
    shards: int, workers: int, extra: int, max_rate: float | None
) -> None:
    cap = shards * workers + extra
    whole = Settings.model_validate({"url": "http://x.test/", "concurrency": min(cap, 500),
                                     "max_rate": max_rate})  # fmt: skip
    if whole.concurrency < shards * workers:
        return
    caps, rates = [], []
    for k in range(shards):
        plan = LoadPlan(None, 1.0, TrafficSettings(), workers, shard=Shard(k, shards))
        for w in range(workers):
            mine = worker_settings(whole, plan, w)
            caps.append(mine.concurrency)
            rates.append(mine.max_rate)
    assert sum(caps) == whole.concurrency
    assert min(caps) >= 1
    if max_rate is not None:
        assert sum(r or 0 for r in rates) == pytest.approx(max_rate)


ramps = st.lists(
    st.tuples(st.floats(0.01, 5), st.sampled_from([0.0, 1.0, 7.5, 100.0, 333.3])),
    min_size=1, max_size=4,
)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(start=st.sampled_from([0.0, 2.0, 50.0]), steps=ramps, shards=st.integers(1, 5))
def test_a_lane_keeps_the_one_machine_instants(
    start: float, steps: list[tuple[float, float]], shards: int
) -> None:
    points, t = [(0.0, start)], 0.0
    for span, rate in steps:
        t += span
        points.append((t, rate))
    profile = RateProfile(tuple(points))
    offsets = list(profile.offsets())
    assert offsets == [profile.offset_at(i) for i in range(len(offsets))]
    assert profile.offset_at(len(offsets)) is None
    plan = TrafficPlan(count=profile.arrivals, seed=3, duplicates=0.3)
    whole: list[tuple[float, bytes]] = []
    for k in range(shards):
        lane = Lane(plan, k, shards, profile)
        notes, instants = lane.notes(), lane.offsets()
        whole += [(at, next(notes).body) for at in instants]
        assert lane.remaining() == 0
    expected = [(offsets[slot], note.body) for slot, note in plan.lane(0, 1)]
    assert sorted(whole) == sorted(expected)


def test_a_stopped_lane_counts_the_arrivals_left_without_generating_them() -> None:
    plan = TrafficPlan(count=10**12, seed=1)
    lane = Lane(plan, 1, 4, RateProfile.constant(1000, 10**9))
    instants = lane.offsets()
    assert [next(instants) for _ in range(3)] == [0.001, 0.005, 0.009]
    assert lane.remaining() == (10**12 - 1 + 3) // 4 - 3


@pytest.mark.parametrize(
    ("text", "problem"),
    [("3", "not K/N"), ("2/2", "K must be from 0 to 1"), ("0/0", "N must be from 1"),
     ("-1/2", "not K/N"), ("a/b", "not K/N")],
)  # fmt: skip
def test_bad_shards_are_named(text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        Shard.parse(text)


def test_start_instants() -> None:
    assert parse_start_at("2026-11-26T16:00:00Z") == 1795708800.0
    assert parse_start_at("2026-11-26T17:00:00+01:00") == 1795708800.0
    assert parse_start_at("1795708800.5") == 1795708800.5
    assert parse_start_at("+30s", now=100.0) == 130.0
    assert parse_start_at("+2m", now=100.0) == 220.0
    assert rfc3339(1795708800.25) == "2026-11-26T16:00:00.250Z"
    for bad in ("tomorrow", "2026-11-26T16:00:00", "-5", "+x"):
        with pytest.raises(ConfigError, match="--start-at"):
            parse_start_at(bad)


def _start(start: Start, wall_at_loop_zero: float) -> tuple[list[float], Any]:
    """Run a 5-arrival open-model engine on virtual time whose wall clock reads
    `wall_at_loop_zero` at loop time 0; when each request arrived (loop time)."""

    async def main() -> tuple[list[float], Any]:
        loop = asyncio.get_running_loop()
        transport = MemoryTransport()
        options = EngineOptions(
            seed=1, clock=loop.time, wall_clock=lambda: wall_at_loop_zero + loop.time()
        )
        s = Settings.model_validate({"url": "http://x.test/", "throttle": {"enabled": False}})
        engine = Engine(s, options=options, transport=transport)
        plan = TrafficPlan(count=5, seed=2)
        lane = Lane(plan, 0, 1, RateProfile.constant(10, 0.5))
        m = await engine.run(lane.notes(), schedule=lane.offsets(), duration_s=0.5, start=start)
        return [r.at for r in transport.received], m

    return virtualtime.run(main())


def test_the_clock_starts_at_the_start_instant() -> None:
    at, m = _start(Start(1000.0, 1.0), wall_at_loop_zero=997.0)  # 3 s early: it waits
    assert at == pytest.approx([3.0, 3.1, 3.2, 3.3, 3.4])
    assert m.delivered == 5
    assert m.late_starts == 0


def test_a_little_late_starts_at_the_instant_and_catches_up() -> None:
    at, m = _start(Start(1000.0, 1.0), wall_at_loop_zero=1000.25)
    assert at[:3] == pytest.approx([0.0, 0.0, 0.0])  # due at 0, 0.1, 0.2 of the shared clock
    assert at[3:] == pytest.approx([0.05, 0.15])
    assert m.delivered == 5


def test_too_late_sends_nothing() -> None:
    with pytest.raises(LateStart, match=r"ready 1\.500 s after the start instant .*tolerance 1 s"):
        _start(Start(1000.0, 1.0), wall_at_loop_zero=1001.5)


def test_what_a_shard_measured_is_not_part_of_what_shards_agree_on() -> None:
    from dispatcher.jobs.sharding import Sharding, shard_result
    from dispatcher.metrics import Metrics

    whole = Settings.model_validate({"url": "http://x.test/"})
    plan = LoadPlan(None, None, TrafficSettings(seed=1), 1, None, count=10)

    def result(index: int, verdicts: list[dict[str, Any]], expectations: list[str]) -> str:
        sharding = Sharding(Shard(index, 2), "r")
        scenario = {"name": "s", "file": "s.yaml", "expectations": expectations,
                    "verdicts": verdicts}  # fmt: skip
        return shard_result("run", whole, plan, sharding, Metrics(cap=1),
                            judged={"scenario": scenario}, workers_failed=(),
                            interrupted=None).fingerprint  # fmt: skip

    one = result(0, [{"name": "p99_ms < 9", "evidence": ["observed 3.1"]}], ["p99_ms < 9"])
    other = result(1, [{"name": "p99_ms < 9", "evidence": ["observed 4.7"]}], ["p99_ms < 9"])
    assert one == other
    assert result(1, [], ["p99_ms < 8"]) != one


def test_every_shard_of_an_odd_cap_agrees_to_run() -> None:
    """--concurrency 3 over 2 shards: parts of 2 and 1; each shard fits its workers to its own
    part, so none refuses while another runs."""
    from dispatcher.jobs.sharding import senders

    whole = Settings.model_validate({"url": "http://x.test/", "concurrency": 3})
    assert senders({}, whole, Shard(1, 2)) == 1
    assert 1 <= senders({}, whole, Shard(0, 2)) <= 2
    with pytest.raises(ConfigError, match="less than the 2 workers"):
        senders({"workers": 2}, whole, Shard(1, 2))
    with pytest.raises(ConfigError, match="less than the 4 shards"):
        senders({}, whole, Shard(0, 4))


def test_a_late_start_is_taken_on_a_whole_millisecond() -> None:
    """uvloop's clock ticks in milliseconds: instants between its ticks were polled for with no
    timeout (a core spinning), so a late start is rounded down to a whole millisecond."""
    at, _ = _start(Start(1000.0, 1.0), wall_at_loop_zero=1000.2504)
    assert at[3:] == pytest.approx([0.05, 0.15], abs=1e-9)
