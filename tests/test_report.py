"""The HTML report: self-contained, escaped, complete; and, in headless Chromium, working."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from conformance.presentation import plots, report
from conformance.results import divergences
from conformance.results.baseline import make_baseline
from conformance.results.records import Record
from conformance.results.run_metadata import RunMetadata
from tests.test_headlines import INFORMATIVE, TENSORFLOW_GRAPH_ERROR, WHERE

FIXTURES = Path(__file__).with_name("fixtures")
HOSTILE_NAME = "<img src=x onerror=alert(1)>"
HOSTILE_MESSAGE = "<script>alert(2)</script>"
CHROMIUM = os.environ.get("CONFORMANCE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CONFORMANCE_CHROMEDRIVER", "/usr/bin/chromedriver")

# an attribute or CSS reference that would make the browser fetch something
RESOURCE = re.compile(
    r"""(?:\b(?:src|href|srcset|action|poster|data|xlink:href)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:)?//"""
    r"""|url\(\s*["']?\s*(?:[a-z][a-z0-9+.-]*:)?//|@import)""",
    re.IGNORECASE,
)


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def documents() -> list[dict[str, Any]]:
    return [fixture("torch_run"), fixture("jax_run"), fixture("hostile_run")]


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "index.html"
    report.write_html(documents(), path, expect=["torch", "jax", "tensorflow"])
    return path


@pytest.fixture(scope="module")
def text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def test_one_self_contained_file(page: Path, text: str) -> None:
    assert sorted(p.name for p in page.parent.iterdir()) == ["index.html"]  # no temp file left, no assets
    assert text.startswith("<!DOCTYPE html>")
    assert not RESOURCE.search(text)
    assert "http://" not in text and "https://" not in text  # not even namespace URLs
    assert '<link rel="stylesheet"' not in text and "@font-face" not in text
    # one inline script, and the page's policy lets exactly that one run
    [script] = re.findall(r"<script>(.*?)</script>", text, re.S)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}';" in text
    assert text.lower().count("<script") == 1


def test_hostile_strings_are_only_escaped(text: str) -> None:
    for raw in (
        HOSTILE_NAME,
        HOSTILE_MESSAGE,
        "<script>alert(7)</script>",
        "<svg onload=alert(6)>",
        "<b>bold</b>",
        "</pre><script>alert(3)</script>",
        "<img src=x onerror=alert(5)>",
    ):
        assert raw not in text
        assert html.escape(raw, quote=False) in text or html.escape(raw) in text, raw
    # parsed as a browser would: no element that runs or loads anything, no event handler attribute
    tags = Tags()
    tags.feed(text)
    tags.close()
    assert tags.names.count("script") == 1  # the page's own, whose hash the policy names
    assert not {"img", "iframe", "object", "embed", "image", "foreignobject"} & set(tags.names)
    assert [name for name in tags.attributes if name.startswith("on")] == []


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []
        self.attributes: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.names.append(tag)
        self.attributes.extend(name for name, _ in attrs)


def test_sections_and_stable_ids(text: str) -> None:
    for section in ("verdict", "summary", "failures", "divergences", "accuracy", "plots", "agreement", "behaviour"):
        assert f'id="{section}"' in text, section
    for section in ("environment", "records"):
        assert f'id="{section}"' in text, section


def test_the_verdict_is_one_sentence_at_the_top_and_agrees_with_the_gate(text: str) -> None:
    from conformance.results import gate

    verdict = gate.evaluate(documents(), expect=["torch", "jax", "tensorflow"])
    assert not verdict.passed
    sentence = html.escape(verdict.sentence, quote=False)
    assert sentence.startswith("6 of 8 adapters conform; 3 unexplained failures (")
    assert sentence.endswith(
        "; 1 known divergence; framework tensorflow: no results (expected); 1 problem with the known-divergences file."
    )
    assert text.index(sentence) < text.index('id="summary"')
    assert "MISSING framework tensorflow: no results (expected)" in text  # why, besides the failures


def test_a_result_that_two_merged_runs_share_counts_once(tmp_path: Path) -> None:
    """The CI matrix runs each framework under two Pythons: the same failure, twice, is one."""
    from conformance.results import gate

    once = gate.evaluate(documents(), expect=["torch", "jax", "tensorflow"])
    twice = gate.evaluate(documents() + documents(), expect=["torch", "jax", "tensorflow"])
    assert twice.sentence == once.sentence and "3 unexplained failures" in twice.sentence
    path = tmp_path / "report.html"
    report.write_html(documents() + documents(), path)
    failures = path.read_text(encoding="utf-8").split('id="failures"')[1].split("</section>")[0]
    members = re.findall(r'<p class="members">(.*?)</p>', failures, re.S)
    assert members and all(len(set(m.split("; "))) == len(m.split("; ")) for m in members), members


def test_the_matrix_shows_each_cell_s_status_in_words_and_links_to_its_records(text: str) -> None:
    matrix = text[text.index('id="summary"') : text.index('id="failures"')]
    assert matrix.count("<tr>") == 1 + 8  # the header, and one row per adapter
    # torch-compile's forward_accuracy: a glyph, and in words for screen readers and colour-blind readers
    cell = re.search(
        r'<td class="cell st-failed"><a href="#(r-torch-compile-forward_accuracy)"[^>]*>(.*?)</a></td>', matrix
    )
    assert cell is not None
    assert '<span class="sr">1 FAILED, 7 passed</span>' in cell.group(2) and ">FAIL</span>" in cell.group(2)
    assert cell.group(2).count('<i class="sq st-') == 8  # 2 ops x 4 dtypes
    assert f'id="{cell.group(1)}"' in text  # the link lands on the records
    assert "not provided" in matrix and "known divergence" in matrix


def test_failures_are_grouped_by_cause_with_the_smallest_reproducer(text: str) -> None:
    failures = text[text.index('id="failures"') : text.index('class="more"')]
    assert failures.count('<article class="group') == 3  # 2 failed, 1 error, each its own cause
    assert '<button type="button" class="copy" data-target="g-1-code">Copy</button>' in failures
    assert '<pre id="g-1-code"><code>import numpy as np' in failures
    assert "@reproduce_failure(&#39;6.100.0&#39;" in text
    assert "autograd forms float16 Jacobian rows in float16" in text  # the xfail reason, under known divergences
    assert "RuntimeError: derivative for aten::_softmax_backward_data" in failures


def test_the_same_cause_across_dtypes_and_adapters_is_one_group() -> None:
    records = [
        Record(
            adapter=adapter,
            property="p",
            op="softmax",
            dtype=dtype,
            status="failed",
            message=f"vjp[{i}, 1] = 0.{i}, but the oracle gives 0.2 (err {i}.5 ulp > bound 2 ulp) "
            f"[{adapter} softmax axis=1 {dtype}]",
            reproducer="x" * (10 + i),
        )
        for i, (adapter, dtype) in enumerate([("a", "float16"), ("a", "float32"), ("b", "float32")])
    ] + [Record(adapter="a", property="q", op="softmax", dtype="float16", status="error", message="boom")]
    groups = report._groups(records, ("failed", "error"), "g")
    assert [group.count for group in groups] == [3, 1]
    assert groups[0].reproducer == "x" * 10  # the smallest
    assert report.cause(records[0]) == report.cause(records[2])


def test_the_plot_is_inline_svg(text: str) -> None:
    svg = text[text.index('<figure class="plot">') :]
    svg = svg[: svg.index("</figure>")]
    assert svg.count("<svg") == 1
    assert "xmlns" not in svg and "<metadata" not in svg and "<?xml" not in svg
    ids = re.findall(r'\bid="([^"]+)"', svg)
    assert ids and all(i.startswith("ratios-") for i in ids)
    assert all(ref.startswith("ratios-") for ref in re.findall(r'href="#([^"]+)"', svg))
    no_ratios = Record(adapter="a", property="p", op="softmax", dtype="float32", status="passed")
    assert plots.error_ratio_svg([no_ratios]) is None


def test_a_clean_run_passes_and_divergences_show_as_xfailed(tmp_path: Path) -> None:
    torch_run = fixture("torch_run")
    found = divergences.parse(
        '[[divergence]]\nadapter = "torch-compile"\nproperty = "forward_accuracy"\nop = "log_softmax"\n'
        'dtype = "float16"\nreason = "inductor fuses the shift"\n'
        '[[divergence]]\nadapter = "torch-compile"\nproperty = "vjp_derivative_accuracy"\ndtype = "bfloat16"\n'
        'op = "softmax"\nreason = "no bfloat16 double backward"\n'
    )
    path = tmp_path / "out" / "report.html"  # the folder is created
    report.write_html([torch_run], path, divergences=found, expect=["torch"], title="torch only")
    text = path.read_text(encoding="utf-8")
    assert 'id="verdict" class="pass"' in text and "<title>torch only</title>" in text
    assert "4 of 4 adapters conform; 3 known divergences." in text
    assert "inductor fuses the shift" in text and "no bfloat16 double backward" in text
    assert 'class="cell st-failed"' not in text and 'class="cell st-error"' not in text
    assert "Nothing fails that the known divergences do not explain." in text


def test_a_baseline_shows_what_changed(tmp_path: Path) -> None:

    torch_run = fixture("torch_run")
    baseline = make_baseline([torch_run])
    for entry in baseline["results"]:
        if entry["adapter"] == "torch" and entry["status"] == "xfailed":
            entry["status"] = "failed"  # failed in the baseline, xfailed now
        if (
            entry["adapter"] == "torch-compile"
            and entry["property"] == "forward_accuracy"
            and entry["status"] == "failed"
        ):
            entry["status"] = "passed"  # passed in the baseline, fails now
    path = tmp_path / "report.html"
    report.write_html([torch_run], path, baseline=baseline)
    changes = path.read_text(encoding="utf-8").split('id="changes"')[1].split("</section>")[0]
    assert "Newly failing (1)" in changes and "torch-compile forward_accuracy" in changes
    assert "Newly passing (0)" in changes


def test_the_markdown_summary_has_the_verdict_a_table_and_the_failures_folded() -> None:
    from conformance.results import gate

    text = report.render_markdown(documents(), expect=["torch", "jax", "tensorflow"])
    verdict = gate.evaluate(documents(), expect=["torch", "jax", "tensorflow"])
    assert text.startswith("## Softmax conformance: FAIL\n")
    assert html.escape(verdict.sentence) in text
    table = [line.strip("|").split(" | ") for line in text.splitlines() if line.startswith("| ")]
    header, forward = table[0], next(row for row in table if row[0].strip() == "forward_accuracy")
    columns = dict(zip(header[1:], forward[1:], strict=True))
    assert header[1:] == sorted(header[1:])  # adapters by name: a framework's paths together
    assert columns["torch-compile"] == "❌" and columns["torch"] == columns["jax-jit"] == "✅"
    assert text.count("<details>") == 3 and "```python\nimport numpy as np" in text
    assert "- MISSING framework tensorflow: no results (expected)" in text
    assert HOSTILE_NAME not in text and html.escape(HOSTILE_NAME) in text


def test_minimal_documents_render(tmp_path: Path) -> None:
    minimal = {
        "schema_version": 1,
        "metadata": {
            "python": "3.12.1",
            "platform": "p",
            "profile": "ci",
            "seed": 1,
            "timestamp": "2025-01-01T00:00:00Z",
            "frameworks": {},
        },
        "results": [
            {
                "adapter": "numpy",
                "property": "rows_sum_to_one",
                "op": "softmax",
                "dtype": "float64",
                "status": "passed",
                "message": "",
            }
        ],
    }
    path = tmp_path / "r.html"
    report.write_html([minimal], path)
    text = path.read_text(encoding="utf-8")
    assert "No error ratios in these results." in text and "No agreement data" in text
    with pytest.raises(ValueError):
        report.write_html([], path)


def test_the_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "index.html"
    path.write_text("previous report", encoding="utf-8")

    def failing_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        report.write_html([fixture("jax_run")], path)
    assert path.read_text(encoding="utf-8") == "previous report"
    assert [p.name for p in tmp_path.iterdir()] == ["index.html"]


def test_agreement_and_behaviour_models() -> None:
    metadata = RunMetadata.from_json(
        {
            "agreement": [
                {"a": "x", "b": "y", "op": "softmax", "dtype": "float32", "quantity": "forward", "max_abs_diff": 0.5},
                {"a": "y", "b": "x", "op": "softmax", "dtype": "float32", "quantity": "forward", "max_abs_diff": 0.25},
                "junk",
                {"a": "x", "op": "softmax"},
            ],
            "behaviour": [
                {"adapter": "x", "input": "nan", "quantity": "forward", "outcome": "nan"},
                {"adapter": "y", "input": "nan", "quantity": "forward", "outcome": "raises"},
                {"input": "nan"},
            ],
        }
    )
    assert len(metadata.agreement) == 2 and len(metadata.behaviour) == 2  # what names no pair or adapter is left out
    [table] = report._agreement(metadata.agreement)
    assert table.adapters == ["x", "y"]
    assert [c.text for c in table.rows[0].cells] == ["·", "0.5"]
    behaviour = report._behaviour(metadata.behaviour)
    assert behaviour is not None and behaviour.rows[0].disagree
    assert report._behaviour([]) is None


# one result of each display status; the error's message as a run recorded it before messages
# put their cause first: TensorFlow's "Graph execution error:" preamble, the location last
LEGACY_TENSORFLOW_ERROR = f"softmax raised AbortedError: {TENSORFLOW_GRAPH_ERROR} {WHERE}"
EVERY_STATUS = {
    "error": {"message": LEGACY_TENSORFLOW_ERROR, "reproducer": "print('error')"},
    "failed": {"message": f"softmax[0] = 0.5, but the oracle gives 0.25 {WHERE}", "reproducer": "print('failed')"},
    "passed": {},
    "skipped": {"message": "a slow case left out"},
    "xfailed": {"message": f"softmax[1] = 0.5 {WHERE}", "xfail_reason": "a known divergence"},
    "not-provided": {"status": "skipped", "message": "not provided: jacobian", "not_provided": True},
    "not-supported": {"status": "skipped", "message": "not supported: no forward mode", "not_supported": True},
}


def _every_status_page(folder: Path) -> Path:
    results = [
        {
            "adapter": "tensorflow-function",
            "property": f"property_{shown.replace('-', '_')}",
            "op": "softmax",
            "dtype": "float32",
            "status": shown,
            "message": "",
            **fields,
        }
        for shown, fields in EVERY_STATUS.items()
    ]
    metadata = {"python": "3.12.1", "platform": "p", "profile": "ci", "seed": 1, "timestamp": "2025-01-01T00:00:00Z"}
    document = {"schema_version": 1, "metadata": {**metadata, "frameworks": {}}, "results": results}
    path = folder / "every-status.html"
    report.write_html([document], path)
    return path


def test_every_status_shows_its_word_and_an_error_card_its_informative_line(tmp_path: Path) -> None:
    assert set(EVERY_STATUS) <= set(report.LABELS) and all(word.strip() for word in report.LABELS.values())
    text = _every_status_page(tmp_path).read_text(encoding="utf-8")
    badges = dict(re.findall(r'<span class="badge st-([\w-]+)">([^<]*)</span>', text))
    assert badges == {"error": "error", "failed": "FAILED", "xfailed": "known"}
    error_card = re.search(r'<article class="group st-error"[^>]*>\s*<h3>(.*?)</h3>', text, re.DOTALL)
    assert error_card is not None
    assert html.unescape(re.sub(r"<[^>]+>", " ", error_card.group(1))).split() == f"error {INFORMATIVE}".split()
    assert "Graph execution error:" in text  # the whole message, folded beneath the headline
    cells = dict(re.findall(r'<td class="st-([\w-]+)">([^<]*)</td>', text))
    assert cells == {shown: report.LABELS[shown] for shown in EVERY_STATUS}
    row = re.search(r'id="r-tensorflow-function-property_error".*?<td class="message">([^<]*)</td>', text)
    assert row is not None and html.unescape(row.group(1)) == INFORMATIVE


# --- in a browser -------------------------------------------------------------------------------


@contextlib.contextmanager
def _browser(javascript: bool) -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip(
            f"headless Chromium not installed ({CHROMIUM}, {CHROMEDRIVER}); set CONFORMANCE_CHROMIUM/_CHROMEDRIVER"
        )
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="conformance-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(argument)
    if not javascript:
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        driver.set_window_size(1280, 800)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(params=[True, False], ids=["javascript", "no-javascript"])
def browser(request: pytest.FixtureRequest) -> Iterator[Any]:
    with _browser(request.param) as driver:
        driver.javascript = request.param
        yield driver


def _viewport(browser: Any) -> tuple[int, int]:
    width, height = browser.execute_script("return [window.innerWidth, window.innerHeight]")
    return int(width), int(height)


@pytest.mark.browser
def test_at_1280_by_800_the_verdict_and_the_whole_matrix_show_without_horizontal_scroll(
    browser: Any, page: Path
) -> None:
    from selenium.webdriver.common.by import By

    browser.get(page.as_uri())
    assert browser.title == "softmax conformance report"
    width, height = _viewport(browser)
    assert width == 1280
    verdict = browser.find_element(By.ID, "verdict")
    assert verdict.is_displayed() and verdict.text.startswith("FAIL")
    assert "6 of 8 adapters conform; 3 unexplained failures" in verdict.text
    assert verdict.rect["y"] + verdict.rect["height"] <= height  # read without scrolling
    matrix = browser.find_element(By.ID, "summary")
    box = matrix.find_element(By.TAG_NAME, "table").rect
    assert box["x"] >= 0 and box["x"] + box["width"] <= width  # no part of it off to the side
    assert box["height"] <= 800  # ten adapters would still fit: these eight take less
    scroll_width = browser.execute_script("return document.documentElement.scrollWidth")
    assert scroll_width <= width  # the page never scrolls sideways
    # every cell says its status in text too, for screen readers
    cells = matrix.find_elements(By.CSS_SELECTOR, "td.cell a")
    assert cells and all(cell.get_attribute("textContent").strip() for cell in cells)
    # the failures, with their reproducers, read without JavaScript; only the copy buttons need it
    copy = browser.find_element(By.CSS_SELECTOR, 'button.copy[data-target="g-1-code"]')
    assert copy.is_displayed() == browser.javascript
    reproducer = browser.find_element(By.ID, "g-1-code")
    assert reproducer.is_displayed() and "load_adapter(" in reproducer.text
    body = browser.find_element(By.TAG_NAME, "body").text
    assert HOSTILE_NAME in body and HOSTILE_MESSAGE in body
    assert browser.find_elements(By.CSS_SELECTOR, "img, iframe, object, embed") == []
    severe = [entry for entry in browser.get_log("browser") if entry.get("level") == "SEVERE"]
    assert severe == []


@pytest.mark.browser
def test_with_javascript_a_cell_opens_its_records_and_a_reproducer_can_be_copied(page: Path) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with _browser(javascript=True) as browser:
        browser.get(page.as_uri())
        records = browser.find_element(By.ID, "records")
        assert not records.is_displayed()  # collapsed below
        browser.find_element(By.CSS_SELECTOR, 'td.cell a[href="#r-torch-compile-forward_accuracy"]').click()
        row = browser.find_element(By.ID, "r-torch-compile-forward_accuracy")
        assert row.is_displayed() and "forward_accuracy" in row.text
        button = browser.find_element(By.CSS_SELECTOR, 'button.copy[data-target="g-1-code"]')
        assert button.is_displayed()
        button.click()
        WebDriverWait(browser, 10).until(lambda _: button.text != "Copy")  # the clipboard answers later
        assert button.text in ("Copied", "Selected: press Ctrl+C")
        with pytest.raises(NoAlertPresentException):
            _ = browser.switch_to.alert.text
        screenshot = os.environ.get("CONFORMANCE_SCREENSHOT")
        if screenshot:
            browser.get(page.as_uri())
            Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
            assert browser.save_screenshot(screenshot)


def _contrast(foreground: str, background: str) -> float:
    """WCAG's contrast ratio of two CSS ``rgb(...)``/``rgba(...)`` colours."""

    def luminance(colour: str) -> float:
        red, green, blue = (int(part) / 255 for part in re.findall(r"[\d.]+", colour)[:3])
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (red, green, blue)]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    lighter, darker = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


# every badge and records-table status cell: its words, its text colour and the colour behind it
_STATUS_WORDS = """
document.querySelectorAll("details").forEach(d => { d.open = true; });
const behind = element => {
  for (let e = element; e; e = e.parentElement) {
    const colour = getComputedStyle(e).backgroundColor;
    if (colour !== "rgba(0, 0, 0, 0)" && colour !== "transparent") return colour;
  }
  return "rgb(255, 255, 255)";
};
return [...document.querySelectorAll(".badge, table.records td[class^='st-']")].map(
  e => [e.className, e.innerText.trim(), getComputedStyle(e).color, behind(e)]);
"""


@pytest.mark.browser
def test_every_badge_and_status_cell_shows_its_word_readably(tmp_path: Path) -> None:
    page = _every_status_page(tmp_path)
    with _browser(javascript=True) as browser:
        browser.get(page.as_uri())
        shown = browser.execute_script(_STATUS_WORDS)
    assert {name for name, *_ in shown} >= {"badge st-error", "badge st-failed", *(f"st-{s}" for s in EVERY_STATUS)}
    for name, words, colour, background in shown:
        assert words, f"{name} shows no word"
        assert _contrast(colour, background) >= 3, f"{name}: {words!r} in {colour} on {background}"
