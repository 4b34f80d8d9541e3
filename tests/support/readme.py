"""The README as test data: its marked examples and its JSONata task."""

import json
import re
from pathlib import Path

import jsonatapy

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def jsonata_task():
    body = README.split("<!-- jsonata-task -->\n```json\n", 1)[1].split("\n```", 1)[0]
    return json.loads("{" + body + "}")["PublishOrder"]


def evaluate_templates(node, states):
    """What Step Functions does with a JSONata state's fields: evaluate every {% %} string."""
    if isinstance(node, str):
        match = re.fullmatch(r"\{%(.*)%\}", node, re.S)
        return jsonatapy.compile(match.group(1)).evaluate({}, {"states": states}) if match else node
    if isinstance(node, dict):
        return {k: evaluate_templates(v, states) for k, v in node.items()}
    if isinstance(node, list):
        return [evaluate_templates(v, states) for v in node]
    return node
