"""PEP 562 re-exports: a package's public names, imported only when first used.

A package ``__init__`` that imported its submodules would make every cold start pay for
all of them (kafka-python, fastavro, the JSONata engine); with these, ``from
kafka_connector import Publisher`` imports just what ``Publisher`` needs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``exports`` maps each name to its submodule."""

    def attribute(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    return attribute
