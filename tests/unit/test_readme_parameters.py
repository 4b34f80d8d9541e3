"""The README's parameter table (Deploying with SAM) names every parameter of template.yaml, and no other.

A row may name several parameters in its first cell (`` `TopicName`, `ConsumerGroupId` ``);
every backticked name there counts. The template is read, not listed here, so a parameter
added to the template without a row (or a row left behind by a removed parameter) fails
with its name.
"""

from __future__ import annotations

import re
from pathlib import Path

from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[2]
SECTION = "## Deploying with SAM"
HEADER = re.compile(r"^\|\s*parameter\s*\|\s*meaning\s*\|\s*$")
NAME = re.compile(r"`([A-Za-z][A-Za-z0-9]*)`")


def template_parameters() -> set[str]:
    return set(cfn_yaml.loads((ROOT / "template.yaml").read_text())["Parameters"])


def readme_table_parameters(text: str) -> set[str]:
    """The names in the first column of the first ``| parameter | meaning |`` table of the section."""
    section = text.split(f"\n{SECTION}\n", 1)[1].split("\n## ", 1)[0]
    lines = section.splitlines()
    start = next(i for i, line in enumerate(lines) if HEADER.match(line))
    names: set[str] = set()
    for line in lines[start + 2 :]:  # past the header and its |---|---| line
        if not line.startswith("|"):
            break
        names.update(NAME.findall(line.split("|")[1]))
    return names


def test_table_parsing() -> None:
    text = (
        "# t\n\n## Deploying with SAM\n\nintro `NotAParameter`\n\n| parameter | meaning |\n|---|---|\n"
        "| `A`, `B` (+`C`) | uses `D` |\n| `E` | e |\n\nafter\n\n| parameter | meaning |\n|---|---|\n"
        "| `F` | f |\n\n## Next\n"
    )
    assert readme_table_parameters(text) == {"A", "B", "C", "E"}


def test_readme_table_lists_exactly_the_template_parameters() -> None:
    documented = readme_table_parameters((ROOT / "README.md").read_text())
    declared = template_parameters()
    missing, extra = sorted(declared - documented), sorted(documented - declared)
    problems = f"missing: {', '.join(missing) or 'none'}; not in template.yaml: {', '.join(extra) or 'none'}"
    assert (missing, extra) == ([], []), f"README.md ({SECTION}) parameter table - {problems}"
