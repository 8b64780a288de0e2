from __future__ import annotations

import itertools
from collections import Counter

from dispatcher.receiver.validate import validate
from dispatcher.traffic import MAX_DEFER, TrafficPlan


def test_same_seed_same_plan() -> None:
    a = [n.body for n in TrafficPlan(count=200, flow="by-client", duplicates=0.2, seed=5)]
    b = [n.body for n in TrafficPlan(count=200, flow="by-client", duplicates=0.2, seed=5)]
    assert a == b
    c = [n.body for n in TrafficPlan(count=200, flow="by-client", duplicates=0.2, seed=6)]
    assert a != c


def test_by_client_mix_goes_through_2_then_3_and_covers_every_status() -> None:
    notes = list(TrafficPlan(count=2000, flow="by-client", seed=1))
    by_process: dict[str, list[str]] = {}
    for n in notes:
        by_process.setdefault(n.process_id, []).append(n.key)
    assert len(by_process) == 2000
    assert Counter(n.key for n in notes).keys() == {"2", "3", "4", "5"}
    assert any(keys == ["2", "3"] for keys in by_process.values())
    for n in notes:
        validate(n.payload)


def test_by_unico_mix_covers_every_result() -> None:
    notes = list(TrafficPlan(count=500, seed=1))
    results = Counter(n.payload["result"] for n in notes)
    assert results.keys() == {"ok", "expired", "invalid_identity"}
    assert results["ok"] > results["expired"] > 0


def test_notify_restricts_the_mix() -> None:
    notes = list(TrafficPlan(count=300, flow="by-client", notify=("3", "4"), seed=1))
    assert {n.key for n in notes} == {"3", "4"}
    unico = list(TrafficPlan(count=300, notify=("expired",), seed=1))
    assert {n.payload["result"] for n in unico} == {"expired"}


def test_minimal_profile_in_plans() -> None:
    notes = list(TrafficPlan(count=20, profile="minimal", seed=1))
    assert all(set(n.payload) == {"processId", "state", "flow"} for n in notes)


def test_duplicates_come_later_and_only_once_each() -> None:
    notes = list(TrafficPlan(count=3000, duplicates=0.3, seed=2))
    first_at: dict[bytes, int] = {}
    dups = 0
    for i, n in enumerate(notes):
        if n.duplicate:
            dups += 1
            assert 0 < i - first_at[n.body] <= 2 * MAX_DEFER + 1
        else:
            assert n.body not in first_at
            first_at[n.body] = i
    assert 800 < dups < 1000
    assert len(notes) == 3000 + dups


def test_reorder_holds_the_earlier_status_back() -> None:
    notes = list(TrafficPlan(count=2000, flow="by-client", reorder=1.0, seed=3))
    position = {(n.process_id, n.key): i for i, n in enumerate(notes)}
    reordered = [n for n in notes if n.reordered]
    assert reordered
    assert all(n.key == "2" for n in reordered)
    assert all(position[(n.process_id, "3")] < position[(n.process_id, "2")] for n in reordered)


def test_unknown_statuses_and_states_are_marked_and_tolerated() -> None:
    for flow in ("by-client", "by-unico"):
        notes = list(TrafficPlan(count=1000, flow=flow, unknown=0.1, seed=4))  # type: ignore[arg-type]
        unknown = [n for n in notes if n.unknown]
        assert 50 < len(unknown) < 150
        assert all(validate(n.payload).unknown for n in unknown)


def test_plan_is_lazy() -> None:
    huge = iter(TrafficPlan(count=100_000_000, duplicates=0.5, seed=1))
    first = list(itertools.islice(huge, 1000))
    assert len(first) == 1000
