"""`webhook-sim load`: a load test, on as many worker processes as there are cores."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from ..report import print_load_summary, print_verdicts, write_json, write_text
from ..signals import SIGNALS
from .app import app
from .declare import Flags, command
from .options import AUTH, HTTP, PAYLOAD, RETRY, TARGET, TRAFFIC, option
from .output import Outputs, run_fast, warn, warn_insecure
from .stopping import watched

if TYPE_CHECKING:
    from ..jobs.load import LoadJob, LoadResult

OWN = (
    ("rate", option(str | None, "--rate", help="Arrivals per second (open model), or 'max' "
                    "for a closed model at the cap.")),
    ("duration", option(str, "--duration", "-d", default="10s",
                        help="How long: 10, 10s, 2m, 1h.")),
    ("ramp", option(str | None, "--ramp", help="A rate profile TIME:RATE,... e.g. "
                    "0:50,30s:2000,60s:2000 (no --rate).")),
    ("workers", option(int | None, "--workers", "-w",
                       help="Sender processes. Default: one per core.")),
    "concurrency", "adaptive", *TRAFFIC, *RETRY, "seed", *HTTP, "report_json",
    ("report_html", option(Path | None, "--report-html",
                           help="Write a self-contained HTML report with charts.")),
    ("expect", option(list[str] | None, "--expect", help="Threshold METRIC OP VALUE, e.g. "
                      "'response_p99_ms<300' (repeatable): any unmet threshold exits 1.")),
    "grace",
    ("graceful_stop", option(str, "--graceful-stop", default="10s", help="After --duration, "
                             "how long in-flight attempts and retries may go on before they "
                             "are cancelled (as k6's gracefulStop).")),
    ("http_client", option(str, "--http-client", default="lean", help="lean (httptools on "
                           "asyncio protocols: 2.4x the deliveries/s of aiohttp in one worker, "
                           "see docs/benchmarks.md) or aiohttp.")),
)  # fmt: skip


@command(app, (*TARGET, *AUTH, *PAYLOAD, *OWN))
def load(flags: Flags) -> int:
    """Load-test a receiver: arrivals at a rate, latency corrected for coordinated omission.

    Exit 0 done (and every --expect met), 1 a threshold failed (or, with no --expect, nothing
    was delivered), 2 bad input, 130/143 interrupted.
    """
    from ..jobs.load import LoadJob, load_one, load_workers

    out = Outputs(report_json=flags["report_json"], report_html=flags["report_html"])
    job = LoadJob.from_flags(flags)
    console = out.console(width=120)
    warn_insecure(job.settings)
    console.print(_describe(job), markup=False)
    if job.plan.workers == 1:
        engine = job.engine()
        result = run_fast(watched(engine, load_one(job, engine)))
    else:
        result = load_workers(job)
    for line in result.failed:
        warn(f"[red]{line}[/red]; the report has the others' results")
    print_load_summary(console, result.report)
    if result.verdicts:
        print_verdicts(console, result.verdicts)
    _write(out, console, result)
    if SIGNALS.first is not None:
        return 128 + int(SIGNALS.first)
    if not result.passed and not result.verdicts and not result.failed:
        console.print(
            f"[red]nothing was delivered[/red]: 0 of {result.report.notifications.scheduled} "
            "notifications (exit 1; give --expect thresholds to decide otherwise)"
        )
    return 0 if result.passed else 1


def _describe(job: LoadJob) -> str:
    plan, s = job.plan, job.settings
    what = f"{plan.target_per_s:g}/s" if plan.target_per_s else "max (closed model)"
    workers = f"{plan.workers} worker{'s' if plan.workers > 1 else ''}"
    return f"load {s.url}: {what} for {plan.duration_s:g} s, cap {s.concurrency}, {workers}"


def _write(out: Outputs, console: Console, result: LoadResult) -> None:
    if (path := out.paths["report_json"]) is not None:
        write_json(path, result.report)
        console.print(f"report written to {path}")
    if (path := out.paths["report_html"]) is not None:
        from ..html import render as render_html

        write_text(path, render_html(result.report))
        console.print(f"HTML report written to {path}")
