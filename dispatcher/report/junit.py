"""JUnit XML of checks or expectations: what CI systems show as test results."""

from __future__ import annotations

import datetime
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Protocol


class Case(Protocol):
    """A check's verdict: `CheckResult` as it is made, or `Verdict` as a report holds it."""

    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def evidence(self) -> Sequence[str]: ...
    @property
    def duration_s(self) -> float: ...


def junit_xml(suite: str, results: Sequence[Case], *, duration_s: float) -> str:
    """A JUnit XML document: one testcase per check or expectation, evidence in the body."""
    failures = sum(r.status == "failed" for r in results)
    skipped = sum(r.status == "skipped" for r in results)
    root = ET.Element("testsuites", name="webhook-sim")
    node = ET.SubElement(
        root,
        "testsuite",
        name=suite,
        tests=str(len(results)),
        failures=str(failures),
        errors="0",
        skipped=str(skipped),
        time=f"{duration_s:.3f}",
        timestamp=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
    )
    for result in results:
        case = ET.SubElement(
            node,
            "testcase",
            classname=suite,
            name=result.name,
            time=f"{result.duration_s:.3f}",
        )
        if result.status == "failed":
            failure = ET.SubElement(
                case, "failure", message=result.message, type="ContractViolation"
            )
            failure.text = "\n".join((result.description, *result.evidence))
        elif result.status == "skipped":
            ET.SubElement(case, "skipped", message=result.message)
        else:
            out = ET.SubElement(case, "system-out")
            out.text = "\n".join((result.description, *result.evidence))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
