"""End to end through the local runtime: broker, AWS emulator and event source mapping."""

import pytest

from tests.support.markers import mark_folder


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_folder(__file__, "e2e", items)
