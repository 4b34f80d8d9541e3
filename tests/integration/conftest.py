"""Tests against real parts: the embedded broker (or KAFKA_BOOTSTRAP_SERVERS) and/or moto."""

import pytest

from tests.support.markers import mark_folder


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_folder(__file__, "integration", items)
