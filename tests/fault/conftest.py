"""Fault injection: broker restarts, AWS outages, poison records, property-based bad input."""

import pytest

from tests.support.markers import mark_folder


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_folder(__file__, "fault", items)
