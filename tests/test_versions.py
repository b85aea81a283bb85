"""The version matrix: results of several versions of a framework, what changed from one to
the next, the gate across them, and known divergences whose version range does not fit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conformance.cli import main
from conformance.presentation import report
from conformance.results import divergences, gate, versions
from conformance.results.documents import load_documents, write_document
from conformance.results.records import Document, Record

FIXTURES = Path(__file__).with_name("fixtures") / "versions"  # the real matrix, trimmed

ENTRY = """
[[divergence]]
adapter = "jax-jit"
property = "vjp_accuracy"
op = "softmax"
dtype = "float16"
framework = "jax"
{versions}
message = "*float16 VJP off*"
reason = "jax's float16 VJP lost its wide accumulator"
"""


def record(prop: str, dtype: str, status: str, error: float | None = None, bound: float = 10.0, **extra: Any) -> Record:
    return Record(
        adapter="jax-jit",
        framework="jax",
        property=prop,
        op="softmax",
        dtype=dtype,
        status=status,
        max_error_ulp=error,
        bound_ulp=None if error is None else bound,
        **extra,
    )


def run(version: str, *records: Record) -> Document:
    meta = {
        "python": "3.11.7",
        "platform": "Linux",
        "profile": "ci",
        "seed": 0,
        "timestamp": "2025-01-01T00:00:00+00:00",
        "duration_s": 1.0,
        "frameworks": {"jax": version, "numpy": "2.1.0"},
        "adapters": [{"adapter": "jax-jit", "spec": "jax-jit", "framework": "jax"}],
    }
    return Document(meta, records)


FAILS = "vjp[3] = 0.5, but the oracle gives 0.25 (err 300 ulp > bound 10 ulp): float16 VJP off"


def matrix() -> list[Document]:
    """Four versions given out of order: forward float32 moves 3 -> 9 ulp (3x) in 0.6.2; the
    float16 VJP fails in 0.8.3 (new failure) and again in 0.10.2; forward float16 fails in
    0.6.2 and is fixed in 0.8.3."""
    return [
        run(
            "0.10.2",
            record("forward_accuracy", "float32", "passed", 9.0),
            record("vjp_accuracy", "float16", "failed", 300.0, message=FAILS),
            record("forward_accuracy", "float16", "passed", 2.0),
        ),
        run(
            "0.4.38",
            record("forward_accuracy", "float32", "passed", 3.0),
            record("vjp_accuracy", "float16", "passed", 4.0),
            record("forward_accuracy", "float16", "passed", 2.0),
        ),
        run(
            "0.8.3",
            record("forward_accuracy", "float32", "passed", 9.5),
            record("vjp_accuracy", "float16", "failed", 280.0, message=FAILS),
            record("forward_accuracy", "float16", "passed", 2.5),
        ),
        run(
            "0.6.2",
            record("forward_accuracy", "float32", "passed", 9.0),
            record("vjp_accuracy", "float16", "passed", 5.0),
            record("forward_accuracy", "float16", "failed", 40.0, message="forward off"),
        ),
    ]


def entries(versions_line: str) -> list[divergences.Divergence]:
    return divergences.parse(ENTRY.format(versions=versions_line), source="mine.toml")


# --- the version view -----------------------------------------------------------------------


def test_the_table_orders_versions_and_marks_new_failures_fixes_and_moves() -> None:
    [table] = versions.version_tables(matrix())
    assert table.framework == "jax"
    assert table.versions == ("0.4.38", "0.6.2", "0.8.3", "0.10.2")  # packaging's order, not the strings'
    rows = {row.key[1:]: row for row in table.rows}

    forward32 = rows[("forward_accuracy", "softmax", "float32")]
    assert [cell.max_error_ulp for cell in forward32.cells if cell] == [3.0, 9.0, 9.5, 9.0]
    assert [cell.status for cell in forward32.cells if cell] == ["passed"] * 4
    [moved] = [change for change in forward32.changes if change]
    assert (moved.kind, moved.before, moved.after, moved.factor) == ("error moved", "0.4.38", "0.6.2", 3.0)
    assert moved.mark == "error 3×"

    vjp16 = rows[("vjp_accuracy", "softmax", "float16")]
    assert [cell.status for cell in vjp16.cells if cell] == ["passed", "passed", "failed", "failed"]
    assert vjp16.cells[2] is not None and vjp16.cells[2].bound_ulp == 10.0
    [new] = [change for change in vjp16.changes if change]
    assert (new.kind, new.before, new.after, new.regression) == ("new failure", "0.6.2", "0.8.3", True)
    assert new.describe() == "jax-jit vjp_accuracy (softmax, float16): passed in jax 0.6.2, failed in 0.8.3"

    forward16 = rows[("forward_accuracy", "softmax", "float16")]
    assert [change.kind if change else None for change in forward16.changes] == [None, "new failure", "fix", None]
    # 2 -> 2.5 ulp is no move; a failure's figure is not compared with a pass's
    assert table.newest_regression == "0.8.3"
    assert versions.regression_summary([table]) == ["jax 0.8.3 regressed (1 new failure against 0.6.2)"]


def test_a_version_that_regressed_later_is_the_newest_and_errors_compare_against_their_bounds() -> None:
    documents = [
        run(
            "2.19.0",
            record("forward_accuracy", "float32", "passed", 0.1),
            record("jvp_accuracy", "float32", "passed"),
            record("jacobian_rows_sum_to_zero", "float32", "passed", 84.2, bound=1070.0),
            record("batch_equals_rows", "float32", "passed", 1.0, bound=7.5),
        ),
        run(
            "2.20.0",
            record("forward_accuracy", "float32", "passed", 0.9),
            record("jvp_accuracy", "float32", "failed"),
            record("jacobian_rows_sum_to_zero", "float32", "passed", 4.32, bound=54.0),
            record("batch_equals_rows", "float32", "passed", 0.0, bound=32.0),
        ),
        run(
            "2.21.0",
            record("forward_accuracy", "float32", "failed", 50),
            record("jvp_accuracy", "float32", "passed"),
            record("jacobian_rows_sum_to_zero", "float32", "passed", 40.0, bound=54.0),
        ),
    ]
    [table] = versions.version_tables(documents)
    # 0.1 -> 0.9 ulp is rounding, under the 1-ulp floor; 84.2/1070 -> 4.32/54 is another
    # element as worst, the same error against its bound; 4.32/54 -> 40/54 moved 9x; 1 ulp
    # against 7.5 -> 0 against 32 (an exact result's "worst" element is any) stays within an ulp
    assert [change.mark for change in table.changes] == ["new failure", "error 9.3×", "new failure", "fix"]
    moved = table.changes[1]
    assert moved.describe() == (
        "jax-jit jacobian_rows_sum_to_zero (softmax, float32): worst error 4.32 / 54 ulp in jax 2.20.0, "
        "40 / 54 ulp in 2.21.0 (9.3× against the bound)"
    )
    assert table.newest_regression == "2.21.0"


def test_one_version_has_no_table_and_a_merged_document_s_versions_are_not_split() -> None:
    assert versions.version_tables([run("0.4.38", record("forward_accuracy", "float32", "passed", 1.0))]) == []
    merged = run("0.4.38 | 0.6.2", record("forward_accuracy", "float32", "passed", 1.0))
    assert versions.version_tables([merged, run("0.8.3", record("forward_accuracy", "float32", "passed"))]) == []


def test_the_report_shows_the_version_view_and_names_the_newest_regressed_version() -> None:
    page = report.render_html(matrix(), divergences=[])
    assert 'id="versions"' in page and 'id="versions-jax"' in page
    table = page[page.index('<table class="versions"') :].split("</table>")[0]
    header = table.split("</thead>")[0]
    assert header.index("0.4.38") < header.index("0.6.2") < header.index("0.8.3") < header.index("0.10.2")

    def cells(label: str) -> list[str]:
        return table[table.index(f'<th scope="row">{label}</th>') :].split("</tr>")[0].split("<td")[1:]

    row = cells("vjp_accuracy · softmax · float16")
    assert len(row) == 4
    assert "passed" in row[1] and "5 / 10 ulp" in row[1] and "mark" not in row[1]
    assert "FAILED" in row[2] and "ch-new" in row[2] and "new failure" in row[2] and "280 / 10 ulp" in row[2]
    fixed = cells("forward_accuracy · softmax · float16")
    assert "ch-fix" in fixed[2] and ">fix<" in fixed[2]
    moved = cells("forward_accuracy · softmax · float32")
    assert "ch-moved" in moved[1] and "error 3×" in moved[1]
    verdict = page[page.index('id="verdict"') :].split("</section>")[0]
    assert "jax 0.8.3 regressed (1 new failure against 0.6.2)" in verdict


# --- the gate across versions ----------------------------------------------------------------


def write(tmp_path: Path, documents: list[Document]) -> list[str]:
    paths = []
    for document in documents:
        path = tmp_path / f"jax-{document.metadata['frameworks']['jax']}.json"
        write_document(path, document)
        paths.append(str(path))
    return paths


def clean_matrix() -> list[Document]:
    """The matrix with forward float16 passing everywhere: the float16 VJP regression alone."""
    fixed = [
        Document(
            document.metadata,
            tuple(
                r.replace(status="passed", message="", max_error_ulp=2.0)
                if r.key[1:] == ("forward_accuracy", "softmax", "float16")
                else r
                for r in document.results
            ),
        )
        for document in matrix()
    ]
    return fixed


def test_the_gate_fails_on_a_regression_from_one_version_to_the_next(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = write(tmp_path, clean_matrix())
    assert main(["gate", *paths, "--no-default-divergences"]) == 1
    out = capsys.readouterr().out
    assert "REGRESSED jax-jit vjp_accuracy (softmax, float16): passed in jax 0.6.2, failed in 0.8.3: vjp[3]" in out
    assert "FAILED jax-jit vjp_accuracy" not in out  # listed once, as the regression
    assert "jax 0.8.3 regressed (1 new failure against 0.6.2)" in out
    # a stored baseline from the oldest version gives the same verdict
    baseline = tmp_path / "baseline.json"
    assert main(["gate", paths[1], "--no-default-divergences", "--write-baseline", str(baseline)]) == 0
    assert main(["gate", *paths, "--no-default-divergences", "--baseline", str(baseline)]) == 1


def test_an_entry_with_the_right_range_explains_the_regression(tmp_path: Path) -> None:
    paths = write(tmp_path, clean_matrix())
    right = tmp_path / "right.toml"
    right.write_text(ENTRY.format(versions='versions = ">=0.8"'), encoding="utf-8")
    assert main(["gate", *paths, "--no-default-divergences", "--divergences", str(right)]) == 0
    verdict = gate.evaluate(load_documents(paths), divergences=divergences.load(right))
    assert verdict.passed and verdict.version_regressions == []
    [table] = verdict.version_tables
    [known] = [change for change in table.changes if change.kind == "new failure"]
    assert known.explained and known.mark == "new failure (known)"


def test_an_entry_with_a_range_too_narrow_or_too_wide_fails_the_gate_naming_the_range_that_fits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = write(tmp_path, clean_matrix())
    for name, line, needle in (
        ("narrow", 'versions = ">=0.10"', "too narrow: jax 0.8.3, outside it, fails its way unexplained"),
        ("wide", 'versions = ">=0.6"', "too wide: it covers jax 0.6.2, where nothing fails its way"),
    ):
        path = tmp_path / f"{name}.toml"
        path.write_text(ENTRY.format(versions=line), encoding="utf-8")
        assert main(["gate", *paths, "--no-default-divergences", "--divergences", str(path)]) == 1
        out = capsys.readouterr().out
        [problem] = [line for line in out.splitlines() if line.startswith("DIVERGENCE")]
        assert (
            needle in problem
            and "the range that fits the runs (0.4.38, 0.6.2, 0.8.3, 0.10.2): versions = '>=0.8.3'" in problem
        )
        assert "matches nothing in this run" not in out and "stale" not in out  # one line, not one per run


def test_the_report_lists_a_range_that_does_not_fit_in_the_version_view() -> None:
    found = entries('versions = ">=0.10"')
    page = report.render_html(clean_matrix(), divergences=found)
    problems = page[page.index('id="version-problems"') :].split("</ul>")[0]
    assert "mine.toml divergence #1" in problems and "too narrow: jax 0.8.3" in problems
    assert "versions = &#39;&gt;=0.8.3&#39;" in problems


# --- the range audit -------------------------------------------------------------------------


def applied(
    documents: list[Document], found: list[divergences.Divergence]
) -> list[tuple[dict[str, str], list[Record]]]:
    runs = []
    for document in documents:
        frameworks = {k: str(v) for k, v in document.metadata["frameworks"].items()}
        runs.append((frameworks, divergences.apply(document.results, found, frameworks)))
    return runs


@pytest.mark.parametrize(
    ("versions_line", "expected"),
    [
        ('versions = ">=0.8"', []),
        ('versions = ">=0.8.3"', []),
        ("", ["too wide: it covers jax 0.4.38, 0.6.2, where nothing fails its way"]),
        ('versions = ">=0.5"', ["too wide: it covers jax 0.6.2, where nothing fails its way"]),
        ('versions = ">=0.9"', ["too narrow: jax 0.8.3, outside it, fails its way unexplained"]),
        ('versions = "<0.9"', ["too wide: it covers jax 0.4.38, 0.6.2,", "too narrow: jax 0.10.2, outside it"]),
    ],
)
def test_the_range_audit(versions_line: str, expected: list[str]) -> None:
    found = entries(versions_line)
    problems = divergences.audit_versions(applied(clean_matrix(), found), found)
    if not expected:
        assert problems == []
        return
    [problem] = problems
    assert problem.startswith("mine.toml divergence #1 (")
    assert all(needle in problem for needle in expected), problem
    assert problem.endswith("versions = '>=0.8.3'")


def test_an_intermittent_entry_is_never_too_wide_and_a_gap_is_excluded() -> None:
    found = divergences.parse(ENTRY.format(versions="intermittent = true"), source="mine.toml")
    assert divergences.audit_versions(applied(clean_matrix(), found), found) == []
    assert divergences.fitting_range(["1", "2", "3", "4", "5"], ["2", "4"]) == ">=2,<5,!=3"
    assert divergences.fitting_range(["1", "2"], ["1", "2"]) == ""


# --- the real version matrix, as it ran ------------------------------------------------------


def test_the_recorded_matrix() -> None:
    """tests/fixtures/versions: reports/versions/*.json of the runs of tox's jax-0.4 ...
    tensorflow-v2.21 envs (ci profile, 2 cores), trimmed to the fields the view and the gate
    read. Nothing changed status from jax 0.4.38 to 0.10.2 or TensorFlow 2.18.1 to 2.21.0;
    the only error against its bound that moved by more than 2x is jax 0.10.2's many_rows
    bfloat16 softmax (0.49 of its bound in 0.8.3, 0.21 in 0.10.2)."""
    paths = sorted(FIXTURES.glob("*.json"))
    tables = {table.framework: table for table in versions.version_tables(load_documents(paths))}
    assert tables["jax"].versions == ("0.4.38", "0.6.2", "0.8.3", "0.10.2")
    assert tables["tensorflow"].versions == ("2.18.1", "2.19.1", "2.20.0", "2.21.0")
    for table in tables.values():
        assert len(table.rows) == 180 and all(len(row.cells) == len(table.versions) for row in table.rows)
    assert tables["tensorflow"].changes == []
    [moved] = tables["jax"].changes
    assert (moved.kind, moved.key, moved.before, moved.after) == (
        "error moved",
        ("jax-jit", "many_rows", "softmax", "bfloat16"),
        "0.8.3",
        "0.10.2",
    )
    assert moved.factor is not None and 0.4 < moved.factor < 0.5
    assert main(["gate", *map(str, paths), "--expect", "jax,tensorflow"]) == 0
