"""Fast tests: no broker and no emulator process (moto in-process at most)."""

import pytest

from kafka_connector.kafka import vocabulary


@pytest.fixture(autouse=True)
def _fresh_warn_once():
    """Each test sees the once-per-process property warnings, whatever ran before it."""
    vocabulary._warned.clear()
    yield
    vocabulary._warned.clear()
