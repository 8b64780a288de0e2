"""Where a command's words and files go: the console (every secret masked on the way out) and
the files it was asked to write (checked before any work, so a typo costs no run). A report
going to stdout (`-`), or `--output json`, moves the console to stderr, so the two never mix;
`--quiet` silences it (warnings and errors have their own console, on stderr)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

from rich.console import Console

from .. import outfiles
from ..delivery import AttemptResult
from ..errors import ConfigError
from ..jobs.flags import Flags
from ..payloads import Notification
from ..progress import warn
from ..redact import REDACTOR, ScrubbingStream
from ..settings import Settings, scrub
from .console import print_outcome
from .files import writable, write_json, write_text
from .junit import Case, junit_xml
from .model import AnyReport, LoadReport, RunReport
from .observers import AttemptPrinter
from .shard import ShardResult, shard_json

if TYPE_CHECKING:
    from ..jobs.merge import MergeOutcome
    from ..scenario import Scenario

# The options naming a file a command writes; `Outputs.of` checks those a command has.
FILE_FLAGS = ("report_json", "report_html", "junit", "shard_out", "log")
OUTPUT_FORMATS = ("text", "json")


class Outputs:
    """The files a command was asked to write, by option name, and its console. A report going
    to stdout (`-`) moves the console to stderr, so the two never mix."""

    def __init__(
        self, width: int | None = None, *, quiet: bool = False, output: str = "text",
        **paths: Path | None,
    ) -> None:  # fmt: skip
        if output not in OUTPUT_FORMATS:
            raise ConfigError(f"--output = {output!r}: must be one of {', '.join(OUTPUT_FORMATS)}")
        self.json = output == "json"
        # The JSON result is one more thing written to stdout: nothing else may go there.
        self.paths = {"output": Path("-") if self.json else None, **paths}
        seen: dict[str, str] = {}
        for name, path in self.paths.items():
            if path is not None:
                flag = "--output json" if name == "output" else "--" + name.replace("_", "-")
                writable(path, flag)
                where = "stdout" if outfiles.to_stdout(path) else str(path.resolve())
                if where in seen:
                    raise ConfigError(f"{flag} = '{path}': {seen[where]} writes there too: "
                                      "one would overwrite or mix with the other")  # fmt: skip
                seen[where] = flag
        taken = "stdout" in seen
        stream = cast(IO[str], ScrubbingStream(sys.stderr if taken else sys.stdout))
        self.console = Console(highlight=False, soft_wrap=True, file=stream, quiet=quiet)
        if width and not self.console.is_terminal:
            # Logs and pipes have no width; rich would assume 80 and fold every table.
            self.console = Console(
                highlight=False, soft_wrap=True, width=width, file=stream, quiet=quiet
            )

    @classmethod
    def of(cls, flags: Flags, width: int | None = 120) -> Outputs:
        """The outputs a command's flags ask for: its files, --quiet and --output."""
        paths = {name: flags[name] for name in FILE_FLAGS if name in flags}
        quiet, output = flags.get("quiet", False), flags.get("output") or "text"
        return cls(width, quiet=quiet, output=output, **paths)

    @property
    def progress(self) -> Console | None:
        """Where live progress goes: nowhere when quiet."""
        return None if self.console.quiet else self.console

    def save(self, name: str, content: str | AnyReport, said: str | None = None) -> None:
        """Write `content` where option `name` asked, if it did; `said`: what to call it."""
        if (path := self.paths.get(name)) is None:
            return
        if isinstance(content, str):
            write_text(path, content)
        else:
            write_json(path, content)
        if said:
            self.console.print(f"{said} written to {path}")

    def listed(self, lines: Sequence[str], doc: Any) -> None:
        """A listing (`check --list`): its lines on the console, and with --output json the
        document `doc` (plain JSON data) on stdout."""
        self.console.print("\n".join(lines), markup=False)
        if (path := self.paths.get("output")) is not None:
            write_text(path, json.dumps(doc, indent=2) + "\n")

    def result(self, report: AnyReport) -> None:
        """The command's typed result: its --report-json file, and stdout with --output json."""
        self.save("report_json", report, "report")
        self.save("output", report)

    def finish(
        self, report: RunReport | LoadReport, verdicts: Sequence[Case] = (),
        scenario: Scenario | None = None,
    ) -> None:  # fmt: skip
        """The end of a run, a load test or a merge: the outcome, the reports asked for (with
        a scenario, the JUnit XML of its expectations)."""
        if scenario is not None:
            self.console.print(f"scenario {scenario.name}: {scenario.description}", markup=False)
            suite, took = f"webhook-sim scenario {scenario.name}", report.duration_s
            self.save("junit", junit_xml(suite, verdicts, duration_s=took))
        print_outcome(self.console, report, verdicts)
        save_reports(self, report)

    def merged(self, outcome: MergeOutcome) -> int:
        """The end of a merged run (merge, --ray): its report, and its exit code."""
        from ..signals import SIGNALS

        self.finish(outcome.report, outcome.verdicts)
        return SIGNALS.exit_code() or (0 if outcome.passed else 1)


def warn_insecure(settings: Settings) -> None:
    if settings.insecure:
        warn("[yellow]warning: --insecure: TLS certificates are not verified[/yellow]")


def save_reports(out: Outputs, report: RunReport | LoadReport) -> None:
    """The JSON report (file and --output json) and the HTML one, where they were asked for."""
    out.result(report)
    if out.paths.get("report_html") is not None:
        from ..html import render

        out.save("report_html", render(report), "HTML report")


def save_shard(out: Outputs, shard: ShardResult | None) -> None:
    """The shard's mergeable result, where --shard-out asked."""
    if shard is not None and (path := out.paths.get("shard_out")) is not None:
        outfiles.write(path, shard_json(shard))
        if not outfiles.to_stdout(path):
            out.console.print(f"shard {shard.shard.index}/{shard.shard.count} result written to "
                              f"{path} (merge the shards: webhook-sim merge)")  # fmt: skip


class SendRecord(AttemptPrinter):
    """`send`'s observer: each attempt printed as it happens, and kept for the JSON result."""

    def __init__(self, console: Console, settings: Settings) -> None:
        super().__init__(console, settings)
        self.settings = settings
        self.tried: list[dict[str, Any]] = []

    def on_attempt(
        self, note: Notification, result: AttemptResult, retry_in_s: float | None
    ) -> None:
        super().on_attempt(note, result, retry_in_s)
        self.tried.append({
            "number": result.number, "status": result.status, "error": result.error,
            "latency_ms": round(result.latency_s * 1000, 3),
            "retry_in_s": None if retry_in_s is None else round(retry_in_s, 3),
            "token_renewed": result.reauthenticated, "detail": scrub(result.detail, self._secrets),
        })  # fmt: skip


def send_json(out: Outputs, payload: dict[str, Any], record: SendRecord, outcome: str,
              exit_code: int) -> None:  # fmt: skip
    """`send --output json`: what was sent, every attempt, and what became of it."""
    if (path := out.paths.get("output")) is None:
        return
    s = record.settings
    doc = {"url": str(s.url), "flow": s.flow, "auth": s.auth.type, "payload": payload,
           "attempts": record.tried, "outcome": outcome, "delivered": outcome == "delivered",
           "exit_code": exit_code}  # fmt: skip
    write_text(path, json.dumps(REDACTOR.scrub_tree(doc), indent=2) + "\n")
