"""N shard processes started at one instant against a receiver written here (not the sandbox):
together they send exactly what one process sends, on the same clock; `merge` makes one report
of them and refuses what does not belong; a late shard sends nothing."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from dispatcher.arrivals import RateProfile
from dispatcher.metrics import new_histogram, summarize_ms
from dispatcher.shards import rfc3339
from dispatcher.traffic import TrafficPlan

from .helpers import Recorder, recording

pytestmark = [pytest.mark.e2e]

SHARDS = 3
TRAFFIC = ("--flow", "by-client", "--duplicates", "0.2", "--reorder", "0.5", "--seed", "9")
LOAD = ("--rate", "60", "--duration", "1s", "--workers", "1", *TRAFFIC)
# A shard ready after the instant still starts (and catches up) within this: on a loaded
# machine starting N interpreters can take long, and this test is not about lateness.
TOLERANT = ("--start-tolerance", "120s")
START_IN_S = 5.0
SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "idempotency.yaml"


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[Recorder, str]]:
    async with recording() as (rec, url):
        yield rec, url


async def cli(*argv: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dispatcher", *argv,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_shards_send_what_one_process_sends_on_one_clock(
    recorder: tuple[Recorder, str], tmp_path: Path
) -> None:
    rec, url = recorder
    code, out, err = await cli(
        "load", "--url", url, *LOAD, "--report-json", str(tmp_path / "one.json")
    )
    assert code == 0, out + err
    baseline = rec.take()

    start = time.time() + START_IN_S
    files = [tmp_path / f"shard-{k}.json" for k in range(SHARDS)]
    runs = [
        cli("load", "--url", url, *LOAD, "--shard", f"{k}/{SHARDS}", "--run-id", "e2e",
            "--start-at", rfc3339(start), *TOLERANT, "--shard-out", str(files[k]))
        for k in range(SHARDS)
    ]  # fmt: skip
    for code, out, err in await asyncio.gather(*runs):
        assert code == 0, out + err
    sharded = rec.take()

    # The same bodies, each as many times (duplicates included).
    assert Counter(b for _, b in sharded) == Counter(b for _, b in baseline)
    assert len(sharded) > 60  # by-client processes with two statuses, and duplicates

    # No shard sent before its instant of the one shared schedule, and each recorded how late
    # its first send went. How close to the instant they are (250 ms on a quiet machine) is
    # measured by bench/shards.py: the suite must pass on a loaded machine, where any process
    # may wait its turn for a CPU, so it asserts no upper bound.
    shards = [json.loads(f.read_text()) for f in files]
    profile = RateProfile.constant(60, 1.0)
    plan = TrafficPlan(count=profile.arrivals, flow="by-client", duplicates=0.2, reorder=0.5,
                       seed=9)  # fmt: skip
    for k, shard in enumerate(shards):
        assert shard["metrics"]["first_late_s"] > -0.001  # two clocks read microseconds apart
        mine = {note.body for _, note in plan.lane(k, SHARDS)}
        first = min(at for at, body in sharded if body in mine)
        due = start + (profile.offset_at(k) or 0.0)
        assert first - due > -0.01, f"shard {k} sent {due - first:.3f} s before its instant"

    # The merged report: the shards' counters added up, their histograms merged exactly.
    merged_file = tmp_path / "merged.json"
    code, out, err = await cli("merge", *map(str, files), "--expect-shards", str(SHARDS),
                               "--report-json", str(merged_file))  # fmt: skip
    assert code == 0, out + err
    merged = json.loads(merged_file.read_text())
    one = json.loads((tmp_path / "one.json").read_text())
    counters = [s["metrics"]["counters"] for s in shards]
    for name in ("scheduled", "delivered", "exhausted", "cancelled"):
        assert merged["notifications"][name] == sum(c[name] for c in counters)
        assert merged["notifications"][name] == one["notifications"][name]
    assert merged["duplicates_sent"] == one["duplicates_sent"]
    assert merged["reordered_sent"] == one["reordered_sent"]
    for name in ("latency", "response"):
        histogram = new_histogram()
        for s in shards:
            histogram.decode_and_add(s["metrics"][name])
        kind = "service" if name == "latency" else "response"
        assert merged["latency_ms"][kind] == summarize_ms(histogram)
    assert merged["shards"]["merged"] == [0, 1, 2]
    assert merged["shards"]["start_at"] == rfc3339(start)
    assert merged["workers"] == SHARDS
    assert sum(s["arrivals"] for s in merged["timeline"]) == merged["notifications"]["scheduled"]
    # Second by second, the outcomes by kind add up to the attempts; the slowest are the
    # slowest of every shard's, by service time.
    for second in merged["timeline"]:
        assert sum(second["outcomes"].values()) == second["attempts"], second
    slowest = sorted((row[1] * 1000 for s in shards for row in s["metrics"]["slowest"]),
                     reverse=True)[:10]  # fmt: skip
    assert [row["service_ms"] for row in merged["slowest"]] == [round(v, 3) for v in slowest]
    assert {row["outcome"] for row in merged["samples"]} == set(merged["attempts"]["by_outcome"])

    await _merge_refuses_what_does_not_belong(files, tmp_path)
    await _an_older_shard_merges_without_the_detail(files, tmp_path)


async def _an_older_shard_merges_without_the_detail(files: list[Path], tmp_path: Path) -> None:
    """A shard written before per-second outcomes, samples and the slowest were still merges;
    the merged report leaves them out rather than show a part as the whole."""
    data = json.loads(files[2].read_text())
    del data["metrics"]["samples"], data["metrics"]["slowest"]
    data["metrics"]["seconds"] = [row[:8] for row in data["metrics"]["seconds"]]
    old = tmp_path / "old-shard.json"
    old.write_text(json.dumps(data))
    out_file = tmp_path / "with-old.json"
    code, out, err = await cli("merge", str(files[0]), str(files[1]), str(old),
                               "--report-json", str(out_file))  # fmt: skip
    assert code == 0, out + err
    merged = json.loads(out_file.read_text())
    assert "samples" not in merged
    assert "slowest" not in merged
    assert all(s["outcomes"] is None for s in merged["timeline"])


async def _merge_refuses_what_does_not_belong(files: list[Path], tmp_path: Path) -> None:
    def variant(name: str, change: dict[str, Any]) -> Path:
        data = json.loads(files[2].read_text())
        for key, value in change.items():
            target = data
            *path, last = key.split(".")
            for part in path:
                target = target[part]
            target[last] = value
        path = tmp_path / name
        path.write_text(json.dumps(data))
        return path

    refusals = {
        "missing shards 2/3": [files[0], files[1]],
        "shard 1/3 given twice": [files[0], files[1], files[1], files[2]],
        "not 'e2e'": [*files[:2], variant("other-run.json", {"run_id": "other"})],
        "do not match its own fingerprint": [
            *files[:2],
            variant("other.json", {"context.settings.url": "http://127.0.0.9/x"}),
        ],
        "--expect-shards = 4": [*files, "--expect-shards", "4"],
        "not a webhook-sim shard result": [*files[:2], tmp_path / "merged.json"],
    }
    for problem, argv in refusals.items():
        code, out, err = await cli("merge", *map(str, argv))
        assert code == 2, (problem, out, err)
        assert problem in err, err
        assert len(err.strip().splitlines()) == 1, err
        assert "Traceback" not in err
    bad = variant("bad.json", {"metrics.counters.delivered": "many"})
    code, out, err = await cli("merge", *map(str, [*files[:2], bad]))
    assert code == 2, out + err
    assert "a shard result whose figures cannot be read back" in err
    stopped = variant("stopped.json", {"interrupted": "SIGINT"})
    code, out, err = await cli("merge", *map(str, [*files[:2], stopped]))
    assert code == 1, out + err
    assert "shard 2/3: interrupted by SIGINT" in out + err
    code, out, err = await cli("merge", str(files[0]), str(files[2]), "--allow-partial",
                               "--report-json", str(tmp_path / "partial.json"))  # fmt: skip
    assert code == 1, out + err
    assert "missing 1" in out
    assert json.loads((tmp_path / "partial.json").read_text())["shards"]["missing"] == [1]


async def test_a_late_shard_sends_nothing(recorder: tuple[Recorder, str], tmp_path: Path) -> None:
    rec, url = recorder
    past = rfc3339(time.time() - 30)
    out_file = tmp_path / "s.json"
    code, out, err = await cli("load", "--url", url, *LOAD, "--shard", "0/2", "--run-id", "late",
                               "--start-at", past, "--shard-out", str(out_file))  # fmt: skip
    assert code == 1, out + err
    assert "after the start instant" in err
    assert "nothing was sent" in err
    assert rec.bodies == []
    assert not out_file.exists()


async def test_run_shards_with_a_scenario_merge_to_the_one_process_run(
    recorder: tuple[Recorder, str], tmp_path: Path
) -> None:
    rec, url = recorder
    scenario = str(SCENARIO)
    one = tmp_path / "one.json"
    code, out, err = await cli("run", scenario, "--url", url, "--seed", "4", "--workers", "1",
                               "--report-json", str(one))  # fmt: skip
    assert code == 0, out + err
    baseline = rec.take()
    files = [tmp_path / f"run-{k}.json" for k in range(2)]
    runs = [cli("run", scenario, "--url", url, "--shard", f"{k}/2", "--run-id", "r",
                "--seed", "4", "--shard-out", str(files[k])) for k in range(2)]  # fmt: skip
    for code, out, err in await asyncio.gather(*runs):
        assert code == 0, out + err
    assert Counter(b for _, b in rec.take()) == Counter(b for _, b in baseline)
    merged_file = tmp_path / "merged.json"
    code, out, err = await cli("merge", *map(str, files), "--report-json", str(merged_file))
    assert code == 0, out + err
    merged, alone = json.loads(merged_file.read_text()), json.loads(one.read_text())
    assert merged["kind"] == "run"
    assert merged["notifications"] == alone["notifications"]
    assert merged["duplicates_sent"] == alone["duplicates_sent"] > 0
    assert merged["scenario"]["passed"] is True
    names = [e["name"] for e in merged["scenario"]["expectations"]]
    assert names == [e["name"] for e in alone["scenario"]["expectations"]]
    assert "PASS duplicates_accepted == true" in out
