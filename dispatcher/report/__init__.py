"""Reports: one typed model (`model`) built once (`build`), rendered for a person (`console`),
a machine (`files`: JSON), CI (`junit`) and a browser (`dispatcher.html`), read back by
`read`. Nothing here changes a run."""

from __future__ import annotations

from .build import check_report, load_report, platform_report, run_report, scenario_section
from .console import print_load_summary, print_outcome, print_verdicts, summary_table
from .files import writable, write_json, write_text
from .junit import junit_xml
from .model import SCHEMA_VERSION, AnyReport, CheckReport, LoadReport, PlatformReport, RunReport
from .observers import AttemptPrinter, Trace, describe_attempt
from .read import read_load_report, read_report

__all__ = [
    "SCHEMA_VERSION",
    "AnyReport",
    "AttemptPrinter",
    "CheckReport",
    "LoadReport",
    "PlatformReport",
    "RunReport",
    "Trace",
    "check_report",
    "describe_attempt",
    "junit_xml",
    "load_report",
    "platform_report",
    "print_load_summary",
    "print_outcome",
    "print_verdicts",
    "read_load_report",
    "read_report",
    "run_report",
    "scenario_section",
    "summary_table",
    "writable",
    "write_json",
    "write_text",
]
