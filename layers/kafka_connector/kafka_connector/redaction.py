"""Keep secret values out of every error, log line and response.

Secrets reach the process in two ways: resolved ``{{secrets.NAME}}`` placeholders and
credentials typed straight into a payload (``authentication.password``, a JAAS config).
Both are registered here as they are seen, and every outbound text (error messages, log
records, debug output) is passed through :func:`redact`. Doing it at the exits, rather
than trusting each call site, is what makes "never" hold for text we did not write
ourselves, such as a kafka-python exception that quotes its configuration.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

MASK = "******"

#: Kafka client properties whose values are credentials or key material.
SENSITIVE_PROPERTIES = frozenset(
    {
        "sasl.jaas.config",
        "ssl.key.password",
        "ssl.keystore.password",
        "ssl.keystore.key",
        "ssl.keystore.certificate.chain",
        "ssl.truststore.password",
        "sasl.oauthbearer.client.secret",
        "basic.auth.user.info",
    }
)

_JAAS_CREDENTIAL = re.compile(r"""(username|password)\s*=\s*(["'])(.*?)\2""")
_MIN_SECRET_LENGTH = 3  # masking one- or two-character strings would shred ordinary text

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


def register(values: Iterable[str | None]) -> None:
    """Remember secret values so that :func:`redact` masks them from now on."""
    global _pattern  # noqa: PLW0603 - one process-wide registry is the point
    new = {v for v in values if isinstance(v, str) and len(v) >= _MIN_SECRET_LENGTH} - _secrets
    if not new:
        return
    with _lock:
        _secrets.update(new)
        # Longest first, so a secret that contains another is masked whole.
        ordered = sorted(_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(s) for s in ordered))


def register_jaas(jaas_config: str) -> None:
    """Register the username/password found inside a ``sasl.jaas.config`` value."""
    register(m.group(3) for m in _JAAS_CREDENTIAL.finditer(jaas_config) if m.group(1) == "password")


def redact(text: str) -> str:
    """Return ``text`` with every registered secret replaced by ``******``."""
    pattern = _pattern
    return pattern.sub(MASK, text) if pattern is not None and text else text


def mask_properties(properties: dict[str, str]) -> dict[str, str]:
    """A copy of client properties fit for a response: credentials shown as ``******``."""
    return {k: (MASK if k in SENSITIVE_PROPERTIES else redact(v)) for k, v in properties.items()}
