"""The documentation: the generated pages are current, every relative link and anchor resolves,
and the commands the README shows are ones the CLI accepts.

Nothing here runs a framework or a command: the CLI's parser is built and its option strings
are compared with the ones the README uses.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from conformance.cli import build_parser
from tests.conftest import REPO

README = REPO / "README.md"
DOCS = REPO / "docs"
TEST_COMMAND = "bash scripts/setup.sh && .venv/bin/python -m pytest -n auto --maxprocesses 4 --dist loadscope"
SHELL_LANGUAGES = {"", "bash", "sh", "shell", "console"}
# `python -m conformance SUB`, `.venv/bin/python -m conformance SUB`, `softmax-conformance SUB`,
# or a line that starts with `conformance SUB`
CONFORMANCE_COMMAND = re.compile(
    r"(?:(?:^|\s)\S*python[\w.]*\s+-m\s+conformance|(?:^|\s)softmax-conformance|^conformance)\s+([\w-]+)"
)
OPTION = re.compile(r"(?<![\w./:@-])(--?[A-Za-z][\w-]*)")


def _markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def _load_write_docs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("write_docs", REPO / "scripts" / "write_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def write_docs() -> ModuleType:
    return _load_write_docs()


# -- Markdown ------------------------------------------------------------------------------


def _code_blocks(text: str) -> Iterator[tuple[str, list[str]]]:
    """Each fenced code block: its language and its lines."""
    language: str | None = None
    lines: list[str] = []
    fence = ""
    for line in text.splitlines():
        stripped = line.strip()
        if language is None:
            match = re.match(r"(`{3,}|~{3,})\s*([\w+-]*)", stripped)
            if match:
                fence, language, lines = match.group(1), match.group(2).lower(), []
        elif stripped.startswith(fence) and not stripped[len(fence) :].strip():
            yield language, lines
            language = None
        else:
            lines.append(line)


def _outside_code_blocks(text: str) -> str:
    """``text`` without its fenced code blocks."""
    kept: list[str] = []
    fence = ""
    for line in text.splitlines():
        stripped = line.strip()
        if fence:
            if stripped.startswith(fence) and not stripped[len(fence) :].strip():
                fence = ""
            continue
        match = re.match(r"(`{3,}|~{3,})", stripped)
        if match:
            fence = match.group(1)
            continue
        kept.append(line)
    return "\n".join(kept)


def _prose(text: str) -> str:
    """``text`` without its fenced code blocks and inline code spans."""
    return re.sub(r"(`+).*?\1", "", _outside_code_blocks(text), flags=re.DOTALL)


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading's text: lowercase, punctuation dropped except ``-`` and
    ``_``, each space a ``-``."""
    text = re.sub(r"`", "", heading.strip().lower())
    text = re.sub(r"\\(.)", r"\1", text)  # a Markdown escape shows the character alone
    return "".join(char for char in text if char.isalnum() or char in " -_").replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    """The anchors of a Markdown file's headings; a repeated heading gets ``-1``, ``-2``..."""
    found: set[str] = set()
    counts: dict[str, int] = {}
    for line in _outside_code_blocks(path.read_text(encoding="utf-8")).splitlines():
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        slug = github_slug(match.group(1))
        number = counts.get(slug, 0)
        counts[slug] = number + 1
        found.add(slug if number == 0 else f"{slug}-{number}")
    return found


def _links(path: Path) -> list[str]:
    """The targets of the inline links and images of a Markdown file, outside code."""
    return re.findall(
        r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", _prose(path.read_text(encoding="utf-8"))
    )


def test_slug_rule():
    assert github_slug("The built-in adapters: every AD path") == "the-built-in-adapters-every-ad-path"
    assert github_slug("Large tensors: `bench`") == "large-tensors-bench"
    assert github_slug("1. torch: `empty_inputs`") == "1-torch-empty_inputs"
    assert github_slug("Why one machine's figure is not another's") == "why-one-machines-figure-is-not-anothers"


# -- the generated pages --------------------------------------------------------------------


def test_the_generated_docs_are_up_to_date(write_docs):
    stale = [path.relative_to(REPO).as_posix() for path in write_docs.stale()]
    assert not stale, f"stale generated docs {stale}: run python scripts/write_docs.py"


def test_each_generated_page_says_so_on_its_first_line(write_docs):
    for path in write_docs.generated():
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert "Generated by scripts/write_docs.py" in first, f"{path.name}: {first}"


def test_the_check_names_a_stale_page_and_writing_makes_it_current(write_docs, tmp_path, capsys):
    page = tmp_path / "page.md"
    pages = {page: "# A page\n"}
    assert write_docs.stale(pages) == [page]  # missing
    page.write_text("# An older page\n", encoding="utf-8")
    assert write_docs.stale(pages) == [page]  # different
    assert write_docs.write(pages) == [page]
    assert write_docs.stale(pages) == []
    assert page.read_text(encoding="utf-8") == "# A page\n"
    assert write_docs.main(["--check"]) == 0
    assert capsys.readouterr().err == ""


def test_the_check_exits_1_naming_each_stale_page(write_docs, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(write_docs, "DIVERGENCES_PAGE", tmp_path / "known-divergences.md")
    monkeypatch.setattr(write_docs, "PERFORMANCE_PAGE", tmp_path / "performance.md")
    (tmp_path / "performance.md").write_text(write_docs.performance_page(), encoding="utf-8")
    assert write_docs.main(["--check"]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and "known-divergences.md is stale" in lines[0], lines
    assert not (tmp_path / "known-divergences.md").exists()  # the check writes nothing
    assert write_docs.main([]) == 0
    assert write_docs.main(["--check"]) == 0


def test_every_known_divergence_has_its_section(write_docs):
    with write_docs.DIVERGENCES.open("rb") as file:
        entries = tomllib.load(file)["divergence"]
    text = write_docs.DIVERGENCES_PAGE.read_text(encoding="utf-8")
    numbers = [int(number) for number in re.findall(r"^## (\d+)\. ", text, flags=re.MULTILINE)]
    assert numbers == list(range(1, len(entries) + 1))
    for entry in entries:
        assert f"```python\n{entry['reproducer'].strip(chr(10))}\n```" in text


def test_the_reasons_render_as_written(write_docs):
    """A reason's Markdown characters are escaped, and the escapes read back as the text."""
    reason = "g * e * Z**-2 over [0, -64] and <u, vjp(v)> | _softmax_backward_data or integer_pow\n- not a list"
    (paragraph,) = write_docs._paragraphs(reason)
    assert re.sub(r"\\(.)", r"\1", paragraph) == " ".join(reason.split("\n"))
    assert "integer_pow" in paragraph and "\\_softmax" in paragraph and "\\*\\*" in paragraph


def test_every_benchmark_result_has_its_section(write_docs):
    text = write_docs.PERFORMANCE_PAGE.read_text(encoding="utf-8")
    for path in sorted(write_docs.BENCHMARK_RESULTS.glob("*.json")):
        assert f"\n## {path.stem}\n" in text
        assert f"`{path.relative_to(REPO).as_posix()}`" in text


def test_a_list_of_comparisons_renders_as_numbered_items_each_field_on_its_line(write_docs):
    lines = write_docs._nested("comparisons", [{"change": "a", "A": {"wall_s": 1.5}}, {"change": "b"}], 0)
    assert lines == [
        "- `comparisons`:",
        "  - `1`:",
        "    - `change`: a",
        "    - `A`:",
        "      - `wall_s`: 1.5",
        "  - `2`:",
        "    - `change`: b",
    ]


# -- links ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", _markdown_files(), ids=lambda path: path.relative_to(REPO).as_posix())
def test_every_relative_link_and_anchor_resolves(path):
    broken = []
    for target in _links(path):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append(f"{target}: no such file")
            continue
        if anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
            broken.append(f"{target}: no heading #{anchor} in {linked.relative_to(REPO)}")
        elif anchor and linked.suffix != ".md":
            broken.append(f"{target}: an anchor into a file that is not Markdown")
    assert not broken, f"{path.relative_to(REPO)}:\n" + "\n".join(broken)


def test_the_readme_links_to_the_docs_and_shows_the_report():
    targets = set(_links(README))
    assert "docs/report.png" in targets
    assert (DOCS / "report.png").is_file()
    for page in sorted(DOCS.glob("*.md")):
        if page.name != "README.md":
            assert any(target.partition("#")[0] == f"docs/{page.name}" for target in targets), (
                f"README.md has no pointer to docs/{page.name}"
            )


# -- the README's commands -----------------------------------------------------------------


def _options_by_command() -> dict[str, set[str]]:
    parser = build_parser()
    (commands,) = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    return {
        name: {option for action in command._actions for option in action.option_strings}
        for name, command in commands.choices.items()
    }


def _shell_commands(text: str) -> list[str]:
    """The commands of the shell code blocks of Markdown ``text``: continuation lines (a
    trailing backslash, or an indented line) joined, comments dropped, split at ``&&``, ``||``
    and ``;``."""
    found = []
    for language, lines in _code_blocks(text):
        if language not in SHELL_LANGUAGES:
            continue
        joined: list[str] = []
        for line in lines:
            if joined and (joined[-1].endswith("\\") or (line[:1].isspace() and line.strip())):
                joined[-1] = joined[-1].rstrip("\\").rstrip() + " " + line.strip()
            else:
                joined.append(line)
        for line in joined:
            line = re.sub(r"(^|\s)#.*$", "", line)  # a comment
            found += [part.strip() for part in re.split(r"&&|\|\||;", line) if part.strip()]
    return found


def _conformance_invocations(commands: list[str]) -> list[tuple[str, str, list[str]]]:
    """``(command, subcommand, options)`` for each command that runs the conformance CLI."""
    found = []
    for command in commands:
        match = CONFORMANCE_COMMAND.search(command)
        if match:
            rest = command[match.end() :]
            options = [option.split("=")[0] for option in OPTION.findall(rest)]
            found.append((command, match.group(1), options))
    return found


def _check(invocations: list[tuple[str, str, list[str]]], where: str) -> list[str]:
    accepted = _options_by_command()
    problems = []
    for command, subcommand, options in invocations:
        if subcommand not in accepted:
            problems.append(f"{where}: `{command}`: no subcommand {subcommand!r} (there are {sorted(accepted)})")
            continue
        problems += [
            f"{where}: `{command}`: {subcommand} has no option {option}"
            for option in options
            if option not in accepted[subcommand]
        ]
    return problems


def test_the_readme_commands_are_ones_the_cli_accepts():
    invocations = _conformance_invocations(_shell_commands(README.read_text(encoding="utf-8")))
    assert len(invocations) >= 3, f"found only {invocations} in the README's shell blocks"
    assert {subcommand for _, subcommand, _ in invocations} >= {"run"}
    problems = _check(invocations, "README.md")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", sorted(DOCS.glob("*.md")), ids=lambda path: path.name)
def test_the_docs_commands_are_ones_the_cli_accepts(path):
    commands = _shell_commands(path.read_text(encoding="utf-8"))
    problems = _check(_conformance_invocations(commands), path.relative_to(REPO).as_posix())
    assert not problems, "\n".join(problems)


def test_the_readme_command_table_names_real_subcommands_and_options():
    accepted = _options_by_command()
    rows = re.findall(
        r"^\|\s*`(?:python -m conformance|softmax-conformance) ([\w-]+)`\s*\|(.*)$",
        README.read_text(encoding="utf-8"),
        flags=re.MULTILINE,
    )
    assert {subcommand for subcommand, _ in rows} == set(accepted), "the table should list every subcommand"
    problems = [
        f"{subcommand}: no option {option}"
        for subcommand, rest in rows
        for option in OPTION.findall(rest)
        if option not in accepted[subcommand]
    ]
    assert not problems, "\n".join(problems)


def test_the_checks_catch_a_wrong_command():
    """The parsing above finds what it is meant to: a misspelt option and an unknown subcommand."""
    commands = _shell_commands(
        "```bash\n.venv/bin/python -m conformance run --adaptor x.py:X \\\n  --json out.json && echo done\n"
        "python -m conformance frobnicate --json x  # a comment --jobs\n```\n"
    )
    invocations = _conformance_invocations(commands)
    assert [(subcommand, options) for _, subcommand, options in invocations] == [
        ("run", ["--adaptor", "--json"]),
        ("frobnicate", ["--json"]),
    ]
    problems = _check(invocations, "example")
    assert len(problems) == 2 and "--adaptor" in problems[0] and "frobnicate" in problems[1]


def test_the_test_command_is_in_the_readme_and_in_ci_run():
    shell_lines = [
        line.strip()
        for language, lines in _code_blocks(README.read_text(encoding="utf-8"))
        for line in lines
        if language in SHELL_LANGUAGES
    ]
    assert TEST_COMMAND in shell_lines, f"the README's shell blocks lack {TEST_COMMAND!r}"
    ci_run = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert TEST_COMMAND in ci_run, f".ci/run does not run {TEST_COMMAND!r}"
