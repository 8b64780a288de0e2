"""The report's detail: outcomes by kind and in flight second by second, each outcome's first
sample, the slowest attempts; recorded on the engine's events (a fake clock here), and merged
across senders as one sender would have counted them."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from dispatcher.delivery import AttemptResult
from dispatcher.engine import Recorder
from dispatcher.load import LoadPlan
from dispatcher.metrics import Metrics, merge, to_wire
from dispatcher.payloads import Notification
from dispatcher.redact import REDACTOR
from dispatcher.report import load_report, run_report
from dispatcher.samples import (
    KINDS,
    SLOWEST_N,
    Sample,
    SlowAttempt,
    Slowest,
    first_samples,
    kind_index,
    slowest_of,
)
from dispatcher.settings import Settings, TrafficSettings

SETTINGS = Settings.model_validate({"url": "http://127.0.0.1:9/hook"})


def note(i: int) -> Notification:
    return Notification(f"p-{i}", "3", {}, b"{}")


def result(status: int | None, *, error: str | None = None, latency_s: float = 0.01,
           detail: str = "", number: int = 1) -> AttemptResult:  # fmt: skip
    return AttemptResult(number, status, error, latency_s, detail=detail)


def recorder(m: Metrics | None = None) -> tuple[Recorder, list[float]]:
    """A recorder whose latency clock is a list's last value: the test moves time."""
    now = [0.0]
    return Recorder(m or Metrics(cap=10), lambda: now[-1]), now


# Pure policies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error", "kind"),
    [
        (200, None, "2xx"), (204, None, "2xx"), (301, None, "3xx"), (404, None, "4xx"),
        (503, None, "5xx"), (101, None, "1xx"), (99, None, "other"), (600, None, "other"),
        (None, "timeout", "timeout"), (None, "refused", "refused"), (None, "reset", "reset"),
        (None, "tls", "tls"), (None, None, "error"), (None, "brand-new", "other"),
    ],
)  # fmt: skip
def test_each_answer_is_counted_under_its_class_or_error_kind(
    status: int | None, error: str | None, kind: str
) -> None:
    assert KINDS[kind_index(status, error)] == kind


def test_every_error_kind_the_sender_classifies_has_its_own_counter() -> None:
    from dispatcher import errors

    kinds = {
        cls.kind for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.DeliveryError)
    }  # fmt: skip
    assert kinds <= set(KINDS), kinds - set(KINDS)


def slow(response_s: float, i: int = 0) -> SlowAttempt:
    return SlowAttempt(response_s, response_s / 2, f"p-{i}", "3", 1, "200", 0.0)


def test_the_slowest_are_kept_in_a_bounded_heap() -> None:
    rng = random.Random(5)
    values = [rng.choice([0.1, 0.2, 0.3, 0.5, 0.8]) + rng.random() for _ in range(500)]
    keeper = Slowest(SLOWEST_N)
    for i, v in enumerate(values):
        keeper.offer(slow(v, i))
    ranked = keeper.ranked()
    assert [e.response_s for e in ranked] == sorted(values, reverse=True)[:SLOWEST_N]
    assert len(keeper._heap) == SLOWEST_N


def test_ties_keep_the_earlier_attempt() -> None:
    keeper = Slowest(2)
    for i in range(5):
        keeper.offer(slow(1.0, i))
    assert [e.process_id for e in keeper.ranked()] == ["p-0", "p-1"]
    assert not keeper.offer(slow(1.0, 9))
    assert keeper.offer(slow(1.5, 9))
    assert [e.process_id for e in keeper.ranked()] == ["p-9", "p-0"]


def test_the_slowest_of_several_senders_are_the_slowest_of_all() -> None:
    rng = random.Random(11)
    for _ in range(50):
        entries = [slow(round(rng.random(), 2), i) for i in range(rng.randint(0, 60))]
        parts = rng.randint(1, 5)
        keepers = [Slowest() for _ in range(parts)]
        everything = Slowest()
        for e in entries:
            keepers[rng.randrange(parts)].offer(e)
            everything.offer(e)
        merged = slowest_of(k.ranked() for k in keepers)
        assert [e.response_s for e in merged] == [e.response_s for e in everything.ranked()]


def test_an_outcomes_sample_is_the_lowest_senders() -> None:
    def sample(outcome: str, who: str) -> Sample:
        return Sample(outcome, None, who, who, "3", 1, 0.0)

    groups = [
        {"503": sample("503", "w0")},
        {"503": sample("503", "w1"), "200": sample("200", "w1")},
    ]
    merged = first_samples(groups)
    assert [(k, s.detail) for k, s in merged.items()] == [("200", "w1"), ("503", "w0")]
    assert first_samples(reversed(groups))["503"].detail == "w1"  # order is the caller's


# Recording -----------------------------------------------------------------------------------


def test_outcomes_and_in_flight_are_bucketed_by_second() -> None:
    rec, _ = recorder()
    m = rec.metrics
    rec.in_flight(0.1, 1)
    rec.in_flight(0.2, 2)
    rec.in_flight(0.3, 3)
    rec.in_flight(0.4, 2)  # one ended
    rec.answered(0.4, result(200), note(1), 0.1, 10)
    rec.in_flight(0.5, 1)
    rec.answered(0.5, result(503), note(2), 0.2, 10)
    # Nothing starts in second 1: what was in flight when it began is its peak.
    rec.in_flight(2.5, 0)
    rec.answered(2.5, result(None, error="timeout"), note(3), 0.3, 8)
    rec.in_flight(3.1, 1)
    rec.in_flight(3.2, 0)
    rec.answered(3.2, result(None, error="refused"), note(4), 3.1, 8)
    m.close_second()
    assert [s.peak_in_flight for s in m.seconds] == [3, 1, 1, 1]
    named = [{KINDS[i]: n for i, n in enumerate(s.kinds) if n} for s in m.seconds]
    assert named == [{"2xx": 1, "5xx": 1}, {}, {"timeout": 1}, {"refused": 1}]
    assert [s.attempts for s in m.seconds] == [sum(s.kinds) for s in m.seconds]
    assert m.peak_in_flight == 3


def test_the_first_answer_of_each_outcome_is_kept_scrubbed() -> None:
    REDACTOR.add("s3cr3t-token-value")
    try:
        rec, _ = recorder()
        rec.answered(0.1, result(503, detail="busy, token s3cr3t-token-value"), note(1), 0.0, 1)
        rec.answered(0.2, result(503, detail="second"), note(2), 0.0, 1)
        rec.answered(0.3, result(None, error="timeout", detail="timed out after 10 s"), note(3),
                     0.0, 1)  # fmt: skip
        rec.answered(0.4, result(200, detail="x" * 500), note(4), 0.0, 1)
    finally:
        REDACTOR.clear()
    samples = rec.metrics.samples
    assert list(samples) == ["503", "timeout", "200"]
    assert samples["503"].detail == "busy, token ***"
    assert samples["503"].process_id == "p-1"
    assert samples["timeout"].status is None
    assert samples["timeout"].detail == "timed out after 10 s"
    assert samples["200"].detail == "x" * 200 + "…"


def test_the_slowest_are_ranked_by_the_receivers_time_not_the_wait_for_a_slot() -> None:
    """An attempt that waited 2 s for a slot (the sender's queue, a cut throttle) and was then
    answered in 10 ms is not "slower" than one the receiver took 300 ms over."""
    rec, clock = recorder()
    clock.append(2.01)
    rec.answered(2.01, result(200, latency_s=0.01), note(0), 0.0, 10)  # due at 0
    clock.append(2.3)
    rec.answered(2.3, result(200, latency_s=0.3), note(1), 2.0, 10)  # due at 2.0
    ranked = rec.metrics.slowest.ranked()
    assert [(e.process_id, e.service_s, e.response_s) for e in ranked] == [
        ("p-1", 0.3, pytest.approx(0.3)), ("p-0", 0.01, pytest.approx(2.01)),
    ]  # fmt: skip


def test_the_slowest_attempts_learn_how_their_notification_ended() -> None:
    rec, clock = recorder()
    kept = []
    for i, response in enumerate([0.5, 0.1, 0.9, 0.3]):
        clock.append(response)  # answered `response` after its intended start, 0
        kept.append(rec.answered(1.0, result(200, latency_s=response / 2), note(i), 0.0, 10))
    clock.append(2.0)
    timeout = rec.answered(2.0, result(None, error="timeout", latency_s=2.0), note(9), 0.0, 10)
    assert timeout is None  # no answer: not a response time
    first = kept[0]
    assert first is not None
    rec.final(1.0, note(0), "exhausted", [first])
    ranked = rec.metrics.slowest.ranked()
    assert [(e.process_id, e.response_s) for e in ranked] == [
        ("p-2", 0.9), ("p-0", 0.5), ("p-3", 0.3), ("p-1", 0.1),
    ]  # fmt: skip
    assert ranked[1].final == "exhausted"
    assert ranked[1].service_s == 0.25
    assert ranked[0].final is None


# Merging -------------------------------------------------------------------------------------

EVENTS = 400


def events(seed: int) -> list[tuple[float, AttemptResult, int, float]]:
    """Attempts ending over five seconds: (when, result, notification, response time)."""
    rng = random.Random(seed)
    outcomes: list[tuple[int | None, str | None]] = [
        (200, None), (200, None), (200, None), (503, None), (404, None), (None, "timeout"),
        (None, "reset"),
    ]  # fmt: skip
    out = []
    for i in range(EVENTS):
        status, error = rng.choice(outcomes)
        at = round(rng.uniform(0, 5), 3)
        service = round(rng.uniform(0.001, 0.5), 4)  # ranked by it: distinct, few ties
        answered = result(status, error=error, detail=f"#{i}", latency_s=service)
        out.append((at, answered, i, service + rng.random()))
    return sorted(out, key=lambda e: e[0])


def play(parts: int, seed: int) -> tuple[Metrics, list[Metrics]]:
    """The same attempts recorded by one sender, and by `parts` senders (each every Nth)."""
    one = recorder()
    split = [recorder() for _ in range(parts)]
    for at, res, i, response in events(seed):
        for rec, clock in (one, split[i % parts]):
            clock.append(at + response)  # answered `response` after it was due, at `at`
            rec.answered(at, res, note(i), at, 10)
    for rec, _ in (one, *split):
        rec.end(5.0)
    return one[0].metrics, [rec.metrics for rec, _ in split]


def via_json(m: Metrics) -> dict[str, Any]:
    """A worker's wire, as a shard file carries it."""
    wire: dict[str, Any] = json.loads(json.dumps(to_wire(m), default=bytes.decode))
    return wire


@pytest.mark.parametrize("parts", [1, 2, 3, 7])
def test_merged_senders_report_what_one_sender_would(parts: int) -> None:
    one, split = play(parts, seed=parts)
    merged = merge([via_json(m) for m in split])
    assert merged.detailed
    assert [(s.t, s.kinds) for s in merged.seconds] == [(s.t, s.kinds) for s in one.seconds]
    assert merged.by_outcome == one.by_outcome
    assert [vars_of(e) for e in merged.slowest.ranked()] == [
        vars_of(e) for e in one.slowest.ranked()
    ]
    # Each outcome's sample: the lowest-numbered sender's first.
    for outcome, sample in merged.samples.items():
        first = next(m.samples[outcome] for m in split if outcome in m.samples)
        assert sample == first
    plan = LoadPlan(None, 5.0, TrafficSettings(count=EVENTS), workers=parts)
    a = load_report(merged, SETTINGS, plan, interrupted=None)
    b = load_report(one, SETTINGS, plan, interrupted=None)
    assert [s.outcomes for s in a.timeline] == [s.outcomes for s in b.timeline]
    assert a.slowest == b.slowest
    assert a.samples is not None
    assert b.samples is not None
    assert [s.outcome for s in a.samples] == [s.outcome for s in b.samples]


def vars_of(e: SlowAttempt) -> tuple[object, ...]:
    return (e.response_s, e.service_s, e.process_id, e.attempt, e.outcome, e.t_s, e.final)


def test_merged_in_flight_peaks_add_up() -> None:
    a, b = Metrics(cap=2), Metrics(cap=2)
    for m, peaks in ((a, [2, 1]), (b, [1, 2])):
        for t, peak in enumerate(peaks):
            m.second(t).peak_in_flight = peak
    merged = merge([to_wire(a), to_wire(b)])
    assert [s.peak_in_flight for s in merged.seconds] == [3, 3]


def test_a_shard_written_before_the_detail_still_merges_without_it() -> None:
    one, split = play(2, seed=3)
    old = via_json(split[1])
    del old["samples"], old["slowest"]
    old["seconds"] = [row[:8] for row in old["seconds"]]
    merged = merge([via_json(split[0]), old])
    assert not merged.detailed
    assert merged.by_outcome == one.by_outcome  # what was there before still adds up
    plan = LoadPlan(None, 5.0, TrafficSettings(count=EVENTS), workers=2)
    report = load_report(merged, SETTINGS, plan, interrupted=None)
    assert report.samples is None
    assert report.slowest is None
    assert all(s.outcomes is None and s.peak_in_flight is None for s in report.timeline)
    # And one without the detail alone, and such a merge passed on (a shard of workers).
    assert not merge([old]).detailed
    assert not merge([via_json(merged)]).detailed


def test_a_run_report_carries_its_timeline_and_detail() -> None:
    one, _ = play(1, seed=4)
    report = run_report(one, SETTINGS)
    assert report.timeline is not None
    assert sum(sum((s.outcomes or {}).values()) for s in report.timeline) == EVENTS
    assert report.samples is not None
    assert {s.outcome for s in report.samples} == set(one.by_outcome)
    assert report.slowest is not None
    assert len(report.slowest) == SLOWEST_N
    assert report.spectrum is not None


def test_a_shard_file_scrubs_the_samples_and_leaves_the_histograms_alone() -> None:
    from dispatcher.report.shard import ShardPart, ShardResult, shard_json

    one, _ = play(1, seed=6)
    wire = via_json(one)
    wire["samples"][0][2] = "echoed hunter2-secret back"
    REDACTOR.add("hunter2-secret")
    try:
        text = shard_json(
            ShardResult(
                tool_version="0", command="load", run_id="r", shard=ShardPart(index=0, count=1),
                fingerprint="f", start_at=None, workers=1, workers_failed=[], interrupted=None,
                context={}, metrics=wire,
            )
        )  # fmt: skip
    finally:
        REDACTOR.clear()
    assert "hunter2-secret" not in text
    written = json.loads(text)["metrics"]
    assert written["samples"][0][2] == "echoed *** back"
    assert written["response"] == wire["response"]
    assert merge([written]).slowest.ranked() == merge([wire]).slowest.ranked()
