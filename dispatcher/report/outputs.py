"""Where a command's words and files go: the console (every secret masked on the way out) and
the files it was asked to write (checked before any work, so a typo costs no run). A report
going to stdout (`-`) moves the console to stderr, so the two never mix."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, cast

from rich.console import Console

from .. import outfiles
from ..errors import ConfigError
from ..redact import ScrubbingStream
from .files import writable, write_json, write_text
from .model import AnyReport, LoadReport, RunReport
from .shard import ShardResult, shard_json


class Outputs:
    """The files a command was asked to write, by option name, and its console. A report going
    to stdout (`-`) moves the console to stderr, so the two never mix."""

    def __init__(self, width: int | None = None, **paths: Path | None) -> None:
        self.paths = paths
        seen: dict[str, str] = {}
        for name, path in paths.items():
            if path is not None:
                flag = "--" + name.replace("_", "-")
                writable(path, flag)
                where = "stdout" if outfiles.to_stdout(path) else str(path.resolve())
                if where in seen:
                    raise ConfigError(f"{flag} = '{path}': {seen[where]} writes there too: "
                                      "one would overwrite or mix with the other")  # fmt: skip
                seen[where] = flag
        taken = any(p is not None and outfiles.to_stdout(p) for p in paths.values())
        stream = cast(IO[str], ScrubbingStream(sys.stderr if taken else sys.stdout))
        self.console = Console(highlight=False, soft_wrap=True, file=stream)
        if width and not self.console.is_terminal:
            # Logs and pipes have no width; rich would assume 80 and fold every table.
            self.console = Console(highlight=False, soft_wrap=True, width=width, file=stream)

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


def save_reports(out: Outputs, report: RunReport | LoadReport) -> None:
    """The JSON report and, for a load test, the HTML one, where they were asked for."""
    out.save("report_json", report, "report")
    if out.paths.get("report_html") is not None:
        if not isinstance(report, LoadReport):
            raise ConfigError("--report-html: HTML reports are of load tests; these are run's")
        from ..html import render

        out.save("report_html", render(report), "HTML report")


def save_shard(out: Outputs, shard: ShardResult | None) -> None:
    """The shard's mergeable result, where --shard-out asked."""
    if shard is not None and (path := out.paths.get("shard_out")) is not None:
        outfiles.write(path, shard_json(shard))
        if not outfiles.to_stdout(path):
            out.console.print(f"shard {shard.shard.index}/{shard.shard.count} result written to "
                              f"{path} (merge the shards: webhook-sim merge)")  # fmt: skip
