"""Looking for a secret in captured output, in every form text may carry it.

The forms are computed here with the standard library, independently of
``kafka_connector.redaction``: a test that asked the layer which forms to look for would
pass whatever the layer forgot.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterator, Mapping
from typing import IO, Any
from urllib.parse import quote, quote_plus


def forms_of(secret: str) -> dict[str, str]:
    """Each way the secret could show in text, by name (raw, escaped, encoded)."""
    data = secret.encode()
    b64 = base64.b64encode(data).decode()
    forms = {
        "raw": secret,
        "JSON-escaped": json.dumps(secret)[1:-1],
        "JSON-escaped (UTF-8)": json.dumps(secret, ensure_ascii=False)[1:-1],
        "repr-escaped": repr(secret)[1:-1],
        "repr-escaped inside a string with both quotes": repr(secret + "'\"")[1:-4],
        "bytes repr": repr(data)[2:-1],
        "JSON-escaped repr": json.dumps(repr(secret)[1:-1])[1:-1],
        "repr-escaped JSON": repr(json.dumps(secret)[1:-1])[1:-1],
        "bytes repr of JSON (a logged response body)": repr(json.dumps(secret, ensure_ascii=False).encode())[
            3:-2
        ],
        "base64": b64,
        "base64 without padding": b64.rstrip("="),
        "URL-safe base64": base64.urlsafe_b64encode(data).decode(),
        "URL-encoded (quote)": quote(secret),
        "URL-encoded (quote, safe='')": quote(secret, safe=""),
        "URL-encoded (quote_plus)": quote_plus(secret),
        "URL-encoded (quote_plus, safe='/')": quote_plus(secret, safe="/"),
    }
    # Inside a longer base64 text (``user:password`` in a Basic Authorization header) the secret's
    # own encoding shifts with its offset: the stable middle of each of the three alignments.
    for shift in (1, 2):
        # The characters that depend on the secret's bytes alone: from the first whole sextet
        # after the shift to the last one before the secret ends.
        first, last = -(-8 * shift // 6), 8 * (shift + len(data)) // 6
        shifted = base64.b64encode(b"\0" * shift + data).decode()[first:last]
        if len(shifted) >= 8:
            forms[f"base64 at offset {shift} (inside longer base64 text)"] = shifted
    return {name: form for name, form in forms.items() if form}


def leaks(secrets: Mapping[str, str], outputs: Mapping[str, str]) -> list[str]:
    """Every (secret, form, output) where a form of a secret occurs, described for an assertion."""
    return [
        f"{label}: {form_name} form found in {where}"
        for label, secret in secrets.items()
        for form_name, form in forms_of(secret).items()
        for where, text in outputs.items()
        if form in text
    ]


def fragment_leaks(secrets: Mapping[str, str], outputs: Mapping[str, str], width: int = 16) -> list[str]:
    """Every place a piece of a secret shows, in any of its forms: what cutting before masking leaves.

    Pieces of ``width`` characters every 4 characters, skipping repetitive ones (``9999…``
    occurs in ordinary text); meant for short outputs such as an error body.
    """
    found = []
    for label, secret in secrets.items():
        pieces = {secret[i : i + width] for i in range(0, max(len(secret) - width, 0) + 1, 4)}
        for piece in (p for p in pieces if len(p) == width and len(set(p)) >= 6):
            found += [
                f"{label}: {form_name} form of {piece!r} found in {where}"
                for form_name, form in forms_of(piece).items()
                for where, text in outputs.items()
                if form in text
            ]
    return found


def record_texts(records: list[Any]) -> str:
    """What a handler could write for each captured log record: message, exception text, stack."""
    return "\n".join(
        f"{record.getMessage()}\n{record.exc_text or ''}\n{record.stack_info or ''}" for record in records
    )


@contextlib.contextmanager
def logger_writing_to(logger: Any, stream: IO[str]) -> Iterator[None]:
    """A Powertools logger's own handler writing to ``stream`` (e.g. capsys's ``sys.stdout``).

    The handler keeps the ``sys.stdout`` of the moment the logger was made — at import, the
    session's capture file, which capsys never sees — so a test that reads capsys must point
    the real handler at its stream first, or its "no secret in the logs" proves nothing.
    """
    handler = logger.registered_handler
    previous = handler.setStream(stream)
    try:
        yield
    finally:
        if previous is not None:
            handler.setStream(previous)
