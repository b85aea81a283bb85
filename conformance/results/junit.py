"""JUnit XML from result records, for CI systems that render it."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections import defaultdict
from typing import Any

from conformance.results.records import write_atomic


def write_junit(records: list[dict[str, Any]], path: str | os.PathLike[str]) -> None:
    """One testsuite per adapter, one testcase per record."""
    by_adapter: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_adapter[record.get("spec") or record["adapter"]].append(record)
    root = ET.Element("testsuites", name="softmax-conformance")
    for spec, group in by_adapter.items():
        suite = ET.SubElement(
            root,
            "testsuite",
            name=spec,
            tests=str(len(group)),
            failures=str(sum(r["status"] == "failed" for r in group)),
            errors=str(sum(r["status"] == "error" for r in group)),
            skipped=str(sum(r["status"] in ("skipped", "xfailed") for r in group)),
        )
        for record in group:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=spec,
                name=f"{record['property']}[{record['op']}-{record['dtype']}]",
                time=str(record.get("duration_s", 0)),
            )
            status = record["status"]
            first_line = (record.get("message") or "").split("\n", 1)[0]
            if status in ("failed", "error"):
                element = ET.SubElement(case, "failure" if status == "failed" else "error", message=first_line)
                element.text = "\n\n".join(filter(None, [record.get("message"), record.get("reproducer")]))
            elif status == "skipped":
                ET.SubElement(case, "skipped", message=first_line)
            elif status == "xfailed":
                ET.SubElement(case, "skipped", message=f"known divergence: {record.get('xfail_reason', '')}")
    write_atomic(path, ET.tostring(root, encoding="unicode", xml_declaration=True))
