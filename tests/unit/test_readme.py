"""Every example in the README is one the tests or the demo run: kept identical, or run here."""

import json
import re

import pytest

from kafka_connector.environment import CONSUMER_VARIABLES
from tests.support.readme import README, ROOT

MARKED = re.compile(r"<!-- (example|state): (\S+) -->\n```json\n(.*?)\n```", re.S)


def marked(kind):
    return [(ref, body) for k, ref, body in MARKED.findall(README) if k == kind]


def test_examples_are_marked():
    assert len(marked("example")) >= 3
    assert len(marked("state")) >= 3


@pytest.mark.parametrize(("path", "body"), marked("example"))
def test_example_payloads_are_the_event_files(path, body):
    assert json.loads(body) == json.loads((ROOT / path).read_text())


@pytest.mark.parametrize(("reference", "body"), marked("state"))
def test_example_states_are_the_state_machines(reference, body):
    path, state = reference.split("#")
    machine = json.loads((ROOT / path).read_text())
    assert json.loads("{" + body + "}") == {state: machine["States"][state]}


def test_consumer_environment_table_is_what_the_consumer_reads():
    section = README.split("### Environment", 1)[1].split("###", 1)[0]
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", section, re.M))
    assert documented == CONSUMER_VARIABLES


def test_first_screen_commands_exist():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("demo", "test", "bench", "lint", "unit"):
        assert re.search(rf"^{target}:", makefile, re.M), target
