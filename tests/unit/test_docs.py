"""The contract in docs/: every link and anchor resolves, and the variable tables are the code's."""

import re
from pathlib import Path

import pytest

from kafka_connector import environment

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {slug(m) for m in re.findall(r"^#+ (.+)$", text, re.M)}


def links():
    for page in PAGES:
        for target in LINK.findall(page.read_text()):
            if not target.startswith(("http://", "https://", "mailto:")):
                yield pytest.param(page, target, id=f"{page.name}->{target}")


@pytest.mark.parametrize(("page", "target"), list(links()))
def test_every_link_and_anchor_resolves(page, target):
    path, _, anchor = target.partition("#")
    destination = (page.parent / path).resolve() if path else page
    assert destination.exists(), target
    if anchor:
        assert anchor in anchors(destination), target


def table_variables(section: str) -> set[str]:
    text = (ROOT / "docs" / "environment.md").read_text()
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Z_]+)` \|", body, re.M))


@pytest.mark.parametrize(
    ("section", "variables"),
    [
        ("Consumer function", environment.CONSUMER_VARIABLES),
        ("Producer function", environment.PRODUCER_VARIABLES),
        ("Subscribe function", environment.SUBSCRIBE_VARIABLES),
    ],
)
def test_each_functions_variables_are_documented_exactly(section, variables):
    assert table_variables(section) == variables


def test_the_code_cites_the_docs_not_a_brief_outside_the_repository():
    cited = []
    for folder in ("layers", "functions", "local", "tests", "bench"):
        for source in (ROOT / folder).rglob("*.py"):
            if re.search(r"\bSPEC §", source.read_text()):
                cited.append(str(source.relative_to(ROOT)))
    assert cited == []
