"""JUnit XML from result records, for CI systems that render it."""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections import defaultdict

from conformance.checks.headlines import headline
from conformance.results.documents import one_line, write_atomic
from conformance.results.records import Record
from conformance.results.status import Status

# characters XML 1.0 cannot hold at all (control characters but tab, newline, return; surrogates;
# U+FFFE and U+FFFF): an adapter's message may carry them, and a parser rejects the file
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    """``text`` without the characters XML cannot hold."""
    return _NOT_XML.sub("", text)


def write_junit(records: list[Record], path: str | os.PathLike[str]) -> None:
    """One testsuite per adapter, one testcase per record."""
    by_adapter: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        by_adapter[record.spec or record.adapter].append(record)
    root = ET.Element("testsuites", name="softmax-conformance")
    for spec, group in by_adapter.items():
        suite = ET.SubElement(
            root,
            "testsuite",
            name=xml_text(spec),
            tests=str(len(group)),
            failures=str(sum(r.status is Status.FAILED for r in group)),
            errors=str(sum(r.status is Status.ERROR for r in group)),
            skipped=str(sum(r.status in (Status.SKIPPED, Status.XFAILED) for r in group)),
        )
        for record in group:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=xml_text(spec),
                name=xml_text(f"{record.property}[{record.op}-{record.dtype}]"),
                time=str(record.duration_s or 0),
            )
            summary = xml_text(one_line(headline(record.message), 1000))
            if record.failing:
                element = ET.SubElement(case, "failure" if record.status is Status.FAILED else "error", message=summary)
                element.text = xml_text("\n\n".join(filter(None, [record.message, record.reproducer])))
            elif record.status is Status.SKIPPED:
                ET.SubElement(case, "skipped", message=summary)
            elif record.status is Status.XFAILED:
                ET.SubElement(case, "skipped", message=xml_text(f"known divergence: {record.xfail_reason or ''}"))
    write_atomic(path, ET.tostring(root, encoding="unicode", xml_declaration=True))
