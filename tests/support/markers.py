"""Each test folder is one kind of test: its ``conftest.py`` marks every test collected in it."""

from __future__ import annotations

from pathlib import Path

import pytest


def mark_folder(conftest_file: str, marker: str, items: list[pytest.Item]) -> None:
    """Add ``marker`` to the tests of the folder holding ``conftest_file``.

    ``pytest_collection_modifyitems`` sees every collected item, not only its own folder's,
    so the folder is checked here.
    """
    folder = Path(conftest_file).resolve().parent
    for item in items:
        if folder in item.path.resolve().parents:
            item.add_marker(getattr(pytest.mark, marker))
