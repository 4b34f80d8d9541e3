"""A function module loaded afresh with a given environment: its cold start, as Lambda runs it."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType

import pytest


def reloaded(monkeypatch: pytest.MonkeyPatch, module: str, env: Mapping[str, str]) -> ModuleType:
    """``module`` (e.g. ``functions.consumer.app``) imported afresh with ``env`` set first.

    Its module-level code reads the environment (configuration, clients), so ``env`` is set
    before the first import as well as before the reload.
    """
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return importlib.reload(importlib.import_module(module))
