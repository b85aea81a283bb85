"""The bit-for-bit facts across versions: what each release's draws found, and where a release
changed them (conformance.results.bitwise_versions), in the report's version view."""

from __future__ import annotations

import math
from pathlib import Path

from conformance.checks.bitwise import PROPERTY_OF, BitwiseFinding
from conformance.presentation import report
from conformance.results import versions
from conformance.results.bitwise_versions import BitsHistory, bits_history
from conformance.results.documents import load_documents
from conformance.results.records import Document, Record
from tests.test_versions import run

RECORDED = Path(__file__).with_name("fixtures") / "bitwise-versions"  # as they ran, see docs/bitwise.md


def same(aspect: str, op: str = "softmax", dtype: str = "float32") -> Record:
    return fact(aspect, BitwiseFinding(aspect, draws=5), op, dtype)


def other(
    aspect: str, at: int, ulps: float, op: str = "softmax", dtype: str = "float32", promised: bool = False
) -> Record:
    finding = BitwiseFinding(
        aspect, promised, draws=5, differing_draws=2, max_diff_ulp=ulps, first_change=at, where=f"at {at}"
    )
    return fact(aspect, finding, op, dtype, "failed" if promised else "passed")


def fact(aspect: str, finding: BitwiseFinding | None, op: str, dtype: str, status: str = "passed") -> Record:
    return Record(
        adapter="jax-jit",
        framework="jax",
        property=PROPERTY_OF[aspect],
        op=op,
        dtype=dtype,
        status=status,
        bitwise=finding,
        not_provided=finding is None,
    )


def not_provided(aspect: str, op: str = "softmax", dtype: str = "float32") -> Record:
    return fact(aspect, None, op, dtype, "skipped")


def history(*documents: Document) -> BitsHistory:
    [table] = versions.version_tables(documents)
    found = bits_history(table)
    assert found is not None
    return found


def releases() -> list[Document]:
    """Four jax releases, out of order. Batch invariance of softmax float32 is lost in 0.6.2 (8
    rows, 4 ulp), first changes at 3 rows in 0.8.3, and differs by 40 ulp in 0.10.2; the thread
    count of log_softmax bfloat16 gives other bits until 0.8.3, the same from then; every call
    gives the same bits throughout."""
    return [
        run(
            "0.10.2",
            other("batch", 3, 40.0),
            same("threads", "log_softmax", "bfloat16"),
            same("determinism"),
        ),
        run(
            "0.4.38",
            same("batch"),
            other("threads", 2, 6.0, "log_softmax", "bfloat16"),
            same("determinism"),
        ),
        run(
            "0.8.3",
            other("batch", 3, 5.0),
            same("threads", "log_softmax", "bfloat16"),
            same("determinism"),
        ),
        run(
            "0.6.2",
            other("batch", 8, 4.0),
            other("threads", 2, 7.0, "log_softmax", "bfloat16"),
            same("determinism"),
        ),
    ]


def test_each_release_s_facts_and_where_a_release_changed_them() -> None:
    found = history(*releases())
    assert found.framework == "jax" and found.versions == ("0.4.38", "0.6.2", "0.8.3", "0.10.2")
    rows = {row.key[1:]: row for row in found.rows}

    batch = rows[("same_bits_in_any_batch", "softmax", "float32")]
    assert batch.aspect == "batch"
    assert [cell.short() for cell in batch.cells if cell] == [
        "yes",
        "no: 8 rows, 4 ulp",
        "no: 3 rows, 5 ulp",
        "no: 3 rows, 40 ulp",
    ]
    assert [change.kind if change else None for change in batch.changes] == [None, "lost", "moved", "moved"]
    lost, first_moved, ulps_moved = [change for change in batch.changes if change]
    assert lost.describe() == (
        "jax-jit softmax float32: batch-invariant in jax 0.4.38, not in 0.6.2: first changes at 8 rows, by up to 4 ulp"
    )
    assert lost.mark == "now other bits"
    assert first_moved.mark == "first change 8 rows → 3 rows"  # 4 -> 5 ulp alone would be no change
    assert first_moved.describe() == (
        "jax-jit softmax float32: not batch-invariant in jax 0.6.2 nor 0.8.3: first changes at 8 rows, by up to "
        "4 ulp in 0.6.2, first changes at 3 rows, by up to 5 ulp in 0.8.3"
    )
    assert ulps_moved.mark == "difference 8×"

    threads = rows[("same_bits_on_any_thread_count", "log_softmax", "bfloat16")]
    [gained] = [change for change in threads.changes if change]
    assert (gained.kind, gained.before, gained.after, gained.mark) == ("gained", "0.6.2", "0.8.3", "now same bits")
    assert gained.describe() == (
        "jax-jit log_softmax bfloat16: not thread-invariant in jax 0.6.2 (first changes at 2 threads, by up to "
        "7 ulp), thread-invariant in 0.8.3"
    )

    assert not rows[("same_bits_every_call", "softmax", "float32")].changed
    assert [found.count(version) for version in found.versions] == [0, 1, 2, 1]


def test_a_version_that_measured_nothing_is_passed_over() -> None:
    """A release where the aspect was not provided has no fact: the change is from the
    nearest older release that measured one."""
    found = history(run("1.0", same("batch")), run("1.1", not_provided("batch")), run("1.2", other("batch", 2, 1.0)))
    [row] = found.rows
    assert [cell.short() if cell else None for cell in row.cells] == ["yes", "not provided", "no: 2 rows, 1 ulp"]
    [change] = [change for change in row.changes if change]
    assert (change.kind, change.before, change.after) == ("lost", "1.0", "1.2")


def test_differences_move_against_the_floor_and_infinities_only_to_finite_ones() -> None:
    def kinds(*ulps: float) -> list[str | None]:
        documents = [run(f"1.{n}", other("batch", 8, value)) for n, value in enumerate(ulps)]
        [row] = history(*documents).rows
        return [change.kind if change else None for change in row.changes]

    assert kinds(4.0, 6.0, 12.5) == [None, None, "moved"]  # 1.5x is no move, 2.08x is
    assert kinds(0.5, 1.5, 0.25) == [None, None, None]  # within the one-ulp floor
    assert kinds(math.inf, math.inf, 3.0) == [None, None, "moved"]


def test_a_table_without_bit_for_bit_facts_has_no_history() -> None:
    forward = Record("jax-jit", "forward_accuracy", "softmax", "float32", "passed", framework="jax")
    [table] = versions.version_tables([run("1.0", forward), run("1.1", forward)])
    assert bits_history(table) is None


def test_a_broken_promise_is_a_new_failure_in_the_version_table_and_a_lost_fact_below() -> None:
    documents = [run("1.0", same("batch")), run("1.1", other("batch", 8, 4.0, promised=True))]
    [table] = versions.version_tables(documents)
    [failure] = table.changes
    assert (failure.kind, failure.regression) == ("new failure", True)
    [lost] = history(*documents).changes
    assert lost.kind == "lost" and lost.after_cell.short() == "no: 8 rows, 4 ulp (promised)"


def test_the_version_view_shows_each_release_s_facts_and_marks_the_changes() -> None:
    page = report.render_html(releases(), divergences=[])
    section = page[page.index('id="versions"') :].split("</section>")[0]
    assert 'id="versions-jax-bits"' in section
    steps = section[section.index('<ul class="small">') :].split("</ul>")[0]
    assert "0.6.2: 1 bit-for-bit change" in steps and "0.8.3: 2 bit-for-bit changes" in steps
    lines = section[section.index('<ul class="version-changes bits-changes">') :].split("</ul>")[0]
    assert (
        '<li class="lost">now other bits: jax-jit softmax float32: batch-invariant in jax 0.4.38, not in 0.6.2: '
        "first changes at 8 rows, by up to 4 ulp</li>"
    ) in lines
    assert '<li class="gained">now same bits: jax-jit log_softmax bfloat16: not thread-invariant' in lines
    table = section[section.index('<table class="versions bits"') :].split("</table>")[0]
    header = table.split("</thead>")[0]
    assert header.index("0.4.38") < header.index("0.6.2") < header.index("0.8.3") < header.index("0.10.2")

    def cells(label: str) -> list[str]:
        return table[table.index(f'<th scope="row">{label}</th>') :].split("</tr>")[0].split("<td")[1:]

    batch = cells("batch-invariant · softmax · float32")
    assert "bits-same" in batch[0] and ">yes<" in batch[0] and "mark" not in batch[0]
    assert "bits-other" in batch[1] and "ch-bits-lost" in batch[1] and "no: 8 rows, 4 ulp" in batch[1]
    assert "now other bits" in batch[1] and 'title="other bits in 2 of 5 draws' in batch[1]
    assert "ch-moved" in batch[2] and "first change 8 rows → 3 rows" in batch[2]
    threads = cells("thread-invariant · log_softmax · bfloat16")
    assert "ch-bits-gained" in threads[2] and "now same bits" in threads[2]
    assert '<tr class="unchanged"><th scope="row">deterministic · softmax · float32</th>' in table


def test_without_a_change_the_view_says_so() -> None:
    page = report.render_html([run("1.0", same("batch")), run("1.1", same("batch"))], divergences=[])
    section = page[page.index('id="versions-jax-bits"') :].split("</details>")[0]
    assert "No release changed a bit-for-bit fact." in section
    assert "<details open" not in section


def test_the_recorded_releases() -> None:
    """tests/fixtures/bitwise-versions: the three bit-for-bit properties of jax and jax-jit in
    the ci profile under jax 0.4.38 and 0.10.2 (2 cores, docs/bitwise.md). Every call gave the
    same bits in both; 0.10.2 lost thread invariance and the batch invariance of bfloat16, and
    gained that of float16."""
    [table] = versions.version_tables(load_documents(sorted(RECORDED.glob("*.json"))))
    assert table.versions == ("0.4.38", "0.10.2") and table.changes == []
    found = bits_history(table)
    assert found is not None and len(found.rows) == 48 and found.count("0.10.2") == 24
    changes = {(change.key[0], change.aspect, change.key[2], change.key[3]): change for change in found.changes}
    assert not any(aspect == "determinism" for _, aspect, _, _ in changes)
    lost = changes[("jax-jit", "batch", "softmax", "bfloat16")]
    assert lost.describe() == (
        "jax-jit softmax bfloat16: batch-invariant in jax 0.4.38, not in 0.10.2: first changes at 4097 rows, "
        "by up to 223 ulp"
    )
    assert changes[("jax-jit", "batch", "log_softmax", "float16")].kind == "gained"
    assert changes[("jax", "threads", "softmax", "float32")].kind == "lost"
    assert changes[("jax-jit", "batch", "log_softmax", "float32")].mark == "first change 8 rows → 3 rows"
