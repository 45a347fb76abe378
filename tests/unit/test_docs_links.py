"""The README stays a page a newcomer reads (at most 200 lines) and every relative link in
it and in docs/ leads somewhere: an existing file and, with a `#fragment`, a heading of that
file. The examples the docs quote are the files the tests run, byte for byte."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^(```|~~~).*?^\1\s*$", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
INCLUDE = re.compile(r"<!-- include: (\S+) -->\n```\w*\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def prose(text: str) -> str:
    """The text without code blocks and inline code, where brackets are not links."""
    return re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))


def anchors(page: Path) -> set[str]:
    """GitHub's heading ids: lower case, punctuation dropped, spaces to hyphens."""
    headings = HEADING.findall(FENCE.sub("", page.read_text(encoding="utf-8")))
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def relative_links(page: Path) -> list[str]:
    found = LINK.findall(prose(page.read_text(encoding="utf-8")))
    return [link for link in found if not re.match(r"^[a-z][a-z0-9+.-]*:", link)]


def test_the_readme_is_at_most_200_lines() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; move detail into docs/"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for link in relative_links(page):
        path, _, fragment = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.exists():
            broken.append(f"{link}: no such file")
        elif fragment and target.suffix == ".md" and fragment not in anchors(target):
            broken.append(f"{link}: no heading #{fragment} in {target.name}")
    assert broken == [], f"{page.relative_to(ROOT)}: {broken}"


def test_the_link_checker_sees_a_broken_link(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[ok](#title) [gone](missing.md) `[code](x.md)`\n")
    assert relative_links(page) == ["#title", "missing.md"]
    assert anchors(page) == {"title"}


def test_the_quoted_examples_are_the_files_the_tests_run() -> None:
    quoted = {}
    for page in PAGES:
        for name, code in INCLUDE.findall(page.read_text(encoding="utf-8")):
            source = (page.parent / name).read_text(encoding="utf-8")
            assert code == source, f"{page.name} quotes an old copy of {name}"
            quoted[name] = page.name
    assert set(quoted) == {"examples/events_consumer.py", "examples/webhook_receiver.py"}
