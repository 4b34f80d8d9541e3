"""Secured brokers for authentication tests (see :mod:`local.secure.broker`).

A test module that needs them loads this module as a plugin (they start real processes, so they
are not in ``conftest.py`` for every test; importing them would trip ruff's F811 on every test)::

    pytest_plugins = ["tests.support.auth"]

    def test_x(secured_kafka):
        kafka = secured_kafka("sasl_ssl")
        KafkaProducer(bootstrap_servers=kafka.bootstrap, **kafka.client_config("SCRAM-SHA-512"))
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest

from local.secure.broker import MODES, SecuredKafka, start_secured_kafka
from local.secure.pki import Pki, make_test_pki


@pytest.fixture(scope="session")
def auth_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """The session's throwaway CA and server certificate (with a client certificate for mTLS)."""
    return make_test_pki(tmp_path_factory.mktemp("pki"), client_cert=True)


@pytest.fixture(scope="session")
def secured_kafka(auth_pki: Pki) -> Iterator[Callable[[str], SecuredKafka]]:
    """Factory: ``secured_kafka(mode)`` starts (once per session) and returns that mode's broker."""
    with contextlib.ExitStack() as stack:
        started: dict[str, SecuredKafka] = {}

        def get(mode: str) -> SecuredKafka:
            if mode not in MODES:
                raise ValueError(f"unknown mode {mode!r}; use one of {sorted(MODES)}")
            if mode not in started:
                started[mode] = stack.enter_context(start_secured_kafka(mode, auth_pki))
            return started[mode]

        yield get
