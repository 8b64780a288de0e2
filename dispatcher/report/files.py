"""Writing reports where the user asked (see `dispatcher.outfiles`), every secret masked."""

from __future__ import annotations

import json
from pathlib import Path

from .. import outfiles
from ..redact import REDACTOR
from .model import AnyReport, as_json


def writable(path: Path, flag: str) -> Path:
    """Check before a run that its report can be written, so a typo costs no run."""
    return outfiles.check_target(path, flag)


def write_text(path: Path, text: str) -> None:
    outfiles.write(path, REDACTOR.scrub(text))


def write_json(path: Path, report: AnyReport) -> None:
    write_text(path, json.dumps(REDACTOR.scrub_tree(as_json(report)), indent=2) + "\n")
