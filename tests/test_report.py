"""The HTML report: self-contained, escaped, complete; and, in headless Chromium, working."""

from __future__ import annotations

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
    assert "<script" not in text.lower()
    assert '<link rel="stylesheet"' not in text and "@font-face" not in text


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
    assert not {"script", "img", "iframe", "object", "embed", "image", "foreignobject"} & set(tags.names)
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
    for section in (
        "gate-verdict",
        "divergence-problems",
        "totals",
        "summary-matrix",
        "failures",
        "accuracy",
        "plots",
        "agreement",
        "behaviour",
        "environment",
    ):
        assert f'id="{section}"' in text, section
    for table in ("summary-float16-softmax", "summary-float16-log_softmax", "summary-any"):
        assert f'id="{table}"' in text
    assert text.count('<details class="failure') == 4  # 2 failed, 1 error, 1 xfailed


def test_summary_cells_show_status_as_text_and_link_failures(text: str) -> None:
    for word in (">passed<", "FAILED", ">error<", ">xfailed<", "not provided"):
        assert word in text
    # the FAILED cell of torch-compile links to its details
    failed_cell = re.search(r'<td class="st st-failed"[^>]*><a href="#(f-\d+)">FAILED</a>', text)
    assert failed_cell is not None
    assert f'id="{failed_cell.group(1)}"' in text


def test_failure_details(text: str) -> None:
    assert '<pre class="reproducer">import numpy as np' in text
    assert "@reproduce_failure(&#39;6.100.0&#39;" in text
    assert "autograd forms float16 Jacobian rows in float16" in text  # the xfail reason
    assert "(3, 17)" in text and "-71.49835" in text  # worst element and oracle
    assert "RuntimeError: derivative for aten::_softmax_backward_data" in text


def test_gate_environment_and_tables(text: str) -> None:
    assert "MISSING framework tensorflow: no results (expected)" in text
    assert 'class="gate fail"' in text
    assert "0.4.35" in text and "2.13.0" in text and "Linux-6.1.0-27-amd64" in text and "3141592653" in text
    assert "derandomized" in text  # the run with seed null
    assert "9.48" in text  # torch-compile's forward error, in the accuracy table
    assert 'class="num over"' in text
    assert "raises FloatingPointError" in text and 'class="disagree"' in text  # behaviour matrix
    assert "softmax · float32 · vjp" in text and "3.61e-07" in text  # agreement tables


def test_the_plot_is_inline_svg(text: str) -> None:
    svg = text[text.index('<figure class="plot">') :]
    svg = svg[: svg.index("</figure>")]
    assert svg.count("<svg") == 1
    assert "xmlns" not in svg and "<metadata" not in svg and "<?xml" not in svg
    ids = re.findall(r'\bid="([^"]+)"', svg)
    assert ids and all(i.startswith("ratios-") for i in ids)
    assert all(ref.startswith("ratios-") for ref in re.findall(r'href="#([^"]+)"', svg))
    assert plots.error_ratio_svg([{"adapter": "a", "dtype": "float32", "error_ratios": []}]) is None


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
    assert 'class="gate pass"' in text and "<title>torch only</title>" in text
    assert "inductor fuses the shift" in text and "no bfloat16 double backward" in text
    assert 'class="st st-failed"' not in text and 'class="st st-error"' not in text
    assert 'id="divergence-problems"' not in text


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
    tables = report._agreement(
        [
            {"a": "x", "b": "y", "op": "softmax", "dtype": "float32", "quantity": "forward", "max_abs_diff": 0.5},
            {"a": "y", "b": "x", "op": "softmax", "dtype": "float32", "quantity": "forward", "max_abs_diff": 0.25},
            "junk",
        ]
    )
    [table] = tables
    assert table["adapters"] == ["x", "y"]
    assert [c["text"] for c in table["rows"][0]["cells"]] == ["·", "0.5"]
    behaviour = report._behaviour(
        [
            {"adapter": "x", "input": "nan", "quantity": "forward", "outcome": "nan"},
            {"adapter": "y", "input": "nan", "quantity": "forward", "outcome": "raises"},
        ]
    )
    assert behaviour is not None and behaviour["rows"][0]["disagree"]
    assert report._behaviour([]) is None


# --- in a browser -------------------------------------------------------------------------------


@pytest.fixture
def browser() -> Iterator[Any]:
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
        "--window-size=1400,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.browser
def test_in_headless_chromium(browser: Any, page: Path) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    browser.get(page.as_uri())
    assert browser.title == "softmax conformance report"
    assert browser.find_element(By.ID, "summary-matrix").is_displayed()
    assert browser.find_element(By.ID, "gate-verdict").text.startswith("FAIL")

    failure = browser.find_element(By.CSS_SELECTOR, "details.failure")
    reproducer = failure.find_element(By.CSS_SELECTOR, "pre.reproducer")
    assert not reproducer.is_displayed()
    failure.find_element(By.TAG_NAME, "summary").click()
    assert failure.get_attribute("open") is not None
    assert reproducer.is_displayed()
    assert "load_adapter('torch-compile')" in reproducer.text

    # the hostile adapter is text on the page, not an element
    body = browser.find_element(By.TAG_NAME, "body").text
    assert HOSTILE_NAME in body and HOSTILE_MESSAGE in body
    assert browser.find_elements(By.CSS_SELECTOR, "img, script, iframe, object, embed") == []
    with pytest.raises(NoAlertPresentException):
        _ = browser.switch_to.alert.text

    screenshot = os.environ.get("CONFORMANCE_SCREENSHOT")
    if screenshot:
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(1400, min(int(height) + 200, 8000))  # the whole page, from the top
        browser.execute_script("window.scrollTo(0, 0)")
        Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(screenshot)

    severe = [entry for entry in browser.get_log("browser") if entry.get("level") == "SEVERE"]
    assert severe == []
