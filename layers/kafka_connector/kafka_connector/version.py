"""The connector's version: the one the layer reports in every log line (``service_version``).

``pyproject.toml``'s ``[project] version`` is the release's version; the layer is deployed
without it, so it carries this copy, which ``tests/unit/test_version.py`` keeps equal.
"""

from __future__ import annotations

from typing import Final

VERSION: Final = "0.1.0"
