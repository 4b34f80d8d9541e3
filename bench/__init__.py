"""Benchmarks of the connector: `make bench`, or `python -m bench [NAME ...]`.

Each benchmark measures both sides of every comparison in the same run, interleaved, so
that machine drift (CPU frequency, noisy neighbours, caches) hits both alike, and prints
the measured values, their ratio, the goal and PASS/MISS. Figures and how to read them:
``bench/README.md``.

Importing this package makes the layer (``layers/kafka_connector``) and the repository
root (``functions``, ``local``, ``tests``) importable, so ``python -m bench`` works from
the repository root without ``PYTHONPATH``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "kafka_connector"

for _path in (str(ROOT), str(LAYER)):
    if _path not in sys.path:
        sys.path.insert(0, _path)
