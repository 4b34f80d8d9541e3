"""`make mutation`: mutation testing of the modules that carry the guarantees (mutmut).

mutmut derives a module's import name from its path below the working directory, and our
package lives at ``layers/kafka_connector/kafka_connector`` (a Lambda layer's layout), so it
cannot run in place. This stages a copy of the work tree with the package at the top level,
runs ``mutmut run`` there with the ``[tool.mutmut]`` settings of pyproject.toml (paths
rewritten for the staged layout), and prints the score per module: killed / (killed +
survived), timeouts counted as killed.

    python tools/mutation.py            # every module listed in [tool.mutmut].only_mutate
    python tools/mutation.py redaction  # only the modules whose path contains "redaction"
"""

from __future__ import annotations

import collections
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGE = ROOT / ".mutation"
LAYER = "layers/kafka_connector/"


def stage(only: list[str]) -> None:
    shutil.rmtree(STAGE, ignore_errors=True)
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in files:
        source = ROOT / name
        if not source.is_file():
            continue
        target = STAGE / (name[len(LAYER) :] if name.startswith(LAYER + "kafka_connector/") else name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    config = (STAGE / "pyproject.toml").read_text()
    config = config.replace('pythonpath = ["layers/kafka_connector", "."]', 'pythonpath = ["."]')
    config = config.replace(f'"{LAYER}kafka_connector', '"kafka_connector')
    if only:
        config = re.sub(
            r"only_mutate = \[.*?\]", "only_mutate = " + repr(only).replace("'", '"'), config, flags=re.S
        )
    (STAGE / "pyproject.toml").write_text(config)


def modules(config: str, wanted: list[str]) -> list[str]:
    listed = re.findall(r'"([^"]+\.py)"', re.search(r"only_mutate = \[(.*?)\]", config, re.S).group(1))
    listed = [path.replace(LAYER, "") for path in listed]
    return [path for path in listed if not wanted or any(w in path for w in wanted)]


def main(argv: list[str]) -> int:
    only = modules((ROOT / "pyproject.toml").read_text(), argv)
    if not only:
        print(f"no module of [tool.mutmut].only_mutate matches {argv}", file=sys.stderr)
        return 2
    stage(only)
    mutmut = Path(sys.executable).with_name("mutmut")
    subprocess.run([str(mutmut), "run"], cwd=STAGE, check=False)
    results = subprocess.run(
        [str(mutmut), "results", "--all", "true"], cwd=STAGE, capture_output=True, text=True, check=False
    ).stdout
    tally: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for line in results.splitlines():
        match = re.match(r"\s*kafka_connector\.([\w.]+?)\.x.*__mutmut_\d+: (\w[\w ]*)", line)
        if match:
            tally[match.group(1)][match.group(2)] += 1
    print(f"\n{'module':<28} {'killed':>7} {'survived':>9} {'no tests':>9} {'score':>7}")
    for module, counts in sorted(tally.items()):
        killed = counts["killed"] + counts["timeout"]
        judged = killed + counts["survived"]
        score = f"{killed / judged:.0%}" if judged else "-"
        print(f"{module:<28} {killed:>7} {counts['survived']:>9} {counts['no tests']:>9} {score:>7}")
    print("\nSurvivors: cd .mutation && mutmut results; mutmut show <name>")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
