"""Keep secret values out of every error, log line, response and dead-letter body.

Secrets reach the process in three ways: resolved ``{{secrets.NAME}}`` placeholders,
credentials typed straight into a payload (``authentication``, a JAAS config, key
passwords), and AWS responses that botocore logs at DEBUG before anyone has looked at them.
Each is registered here as it is seen, and every outbound text is passed through
:func:`redact` (text) or :func:`redact_data` (a structure, before it is serialised). Doing
it at the exits, rather than trusting each call site, is what makes "never" hold for text
we did not write ourselves, such as a kafka-python exception that quotes its configuration.

Two rules make the mask hold:

* A secret is masked in the forms text takes on its way out, not only as typed: JSON- and
  repr-escaped (and each of those escaped once more, as when a JSON log line quotes a
  ``%r``), base64 (also in the middle of a longer base64 text) and URL-encoded. A generated
  password with a quote or a backslash is escaped by every JSON log line and every ``%r``;
  an exact-match mask alone misses it.
* Redaction comes first. A message that quotes a value uses :func:`shown`, which redacts,
  then truncates, then escapes: cutting first would leave a prefix of a long secret that
  no longer matches anything, escaping first a form the caller may not have registered.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote, quote_plus

MASK: Final = "******"

#: Kafka client properties whose values are credentials or key material.
SENSITIVE_PROPERTIES: Final = frozenset(
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

#: Keys whose string values are credentials wherever they appear in structured data: a
#: producer payload, an event logged whole, kafka-python's keyword arguments, and the body
#: of a Secrets Manager response (which botocore logs at DEBUG). ``username`` counts too
#: when it sits next to a ``password`` or inside ``authentication``.
CREDENTIAL_KEYS: Final = SENSITIVE_PROPERTIES | {
    "password",
    "sasl_plain_password",
    "sasl_plain_username",
    "ssl_password",
    "SecretString",
    "SecretBinary",
}

_MIN_SECRET_LENGTH: Final = 3  # masking one- or two-character strings would shred ordinary text
_MIN_BASE64_LENGTH: Final = 8  # shorter base64 runs occur by chance in any base64 text
_HEAD: Final = _MIN_SECRET_LENGTH  # forms are indexed by their first characters
_MAX_DEPTH: Final = 64  # deeper (or cyclic) structures are redacted as their text

_JAAS_CREDENTIAL: Final = re.compile(
    r"""\b(?:username|password)\s*=\s*(?:(["'])((?:\\.|(?!\1).)*)(?:\1|$)|([^\s;"']+))""", re.DOTALL
)
_JAAS_ESCAPE: Final = re.compile(r"\\(.)", re.DOTALL)
_REFERENCE: Final = re.compile(r"\{\{\s*secrets\.[^{}]*\}\}")
_PERCENT_HEX: Final = re.compile(r"%[0-9A-F]{2}")
_URLSAFE: Final = str.maketrans("+/", "-_")
_CREDENTIAL_HINT: Final = "|".join(re.escape(f'"{key}"') for key in sorted(CREDENTIAL_KEYS))
_JSON_WITH_CREDENTIAL: Final = re.compile(rf"\s*[{{\[](?=.*?(?:{_CREDENTIAL_HINT}))", re.DOTALL)
_JSON_WITH_CREDENTIAL_BYTES: Final = re.compile(_JSON_WITH_CREDENTIAL.pattern.encode(), re.DOTALL)


@dataclass(frozen=True, slots=True)
class _Index:
    """The registered forms, indexed by their first characters, and one pattern finding those."""

    heads: re.Pattern[str] | None = None
    forms: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


_lock = threading.Lock()
_secrets: set[str] = set()
_forms: dict[str, set[str]] = {}
_index = _Index()
_stale = False


def register(values: Iterable[str | None]) -> None:
    """Remember secret values so that :func:`redact` masks them, in all their forms, from now on.

    Cheap when nothing is new (the warm path registers the same credentials on every call);
    the search pattern is rebuilt once, on the first redaction after a change.
    """
    global _stale  # noqa: PLW0603 - one process-wide registry is the point
    new = {v for v in values if isinstance(v, str) and len(v) >= _MIN_SECRET_LENGTH and v not in _secrets}
    if not new:
        return
    with _lock:
        new -= _secrets
        _secrets.update(new)
        for value in new:
            for form in _encodings(value):
                _forms.setdefault(form[:_HEAD], set()).add(form)
        if new:
            _stale = True


def register_jaas(jaas_config: str) -> None:
    """Register the username and password found inside a ``sasl.jaas.config`` value."""
    register(jaas_credentials(jaas_config))


def jaas_credentials(jaas_config: str) -> list[str]:
    """The ``username``/``password`` option values of a JAAS text, as written and unescaped.

    Deliberately looser than the JAAS parser: an unterminated or otherwise broken config is
    exactly the one an error or a log line may end up quoting.
    """
    values = []
    for match in _JAAS_CREDENTIAL.finditer(jaas_config):
        written = match.group(2) if match.group(1) else match.group(3)
        values += [written, _JAAS_ESCAPE.sub(r"\1", written)]
    return values


def register_credentials(data: object) -> None:
    """Register every credential found in ``data`` under a :data:`CREDENTIAL_KEYS` key.

    ``data`` is a JSON-like structure, or JSON text (``str``/``bytes``) that is parsed only
    when it names a credential key — the cheap test keeps this affordable on every log line.
    A value that is only ``{{secrets.…}}`` references is not a secret: it names one.
    """
    found: list[str] = []
    _collect(data, None, found, 0)
    register(found)


def _collect(value: object, parent: object, found: list[str], depth: int) -> None:
    if depth > _MAX_DEPTH:
        return
    if isinstance(value, str | bytes):
        pattern = _JSON_WITH_CREDENTIAL if isinstance(value, str) else _JSON_WITH_CREDENTIAL_BYTES
        if pattern.match(value):  # type: ignore[arg-type] # the pattern's type follows the value's
            with contextlib.suppress(ValueError):  # not JSON after all: nothing to register
                _collect(json.loads(value), parent, found, depth + 1)
    elif isinstance(value, Mapping):
        paired = parent == "authentication" or isinstance(value.get("password"), str)
        for key, item in value.items():
            if isinstance(item, str):
                if key in CREDENTIAL_KEYS or (paired and key == "username"):
                    if _REFERENCE.sub("", item).strip():
                        found.append(item)
                    if key == "sasl.jaas.config":
                        found += jaas_credentials(item)
                    elif key == "basic.auth.user.info":
                        found += item.split(":", 1)
                    elif key == "ssl.keystore.key":  # each base64 line: a fragment is masked too
                        found += [line.strip() for line in item.splitlines() if "-----" not in line]
                elif '"' in item:
                    _collect(item, key, found, depth + 1)  # JSON text inside a structure
            else:
                _collect(item, key, found, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect(item, parent, found, depth + 1)


def redact(text: str) -> str:
    """Return ``text`` with every form of every registered secret replaced by ``******``.

    Overlapping matches are masked as one run, so a secret that overlaps another (or its
    own encoding) leaves nothing of either showing.
    """
    if not text:
        return text
    index = _current_index()
    heads = index.heads
    if heads is None:
        return text
    match = heads.search(text)
    if match is None:  # the common case: one scan in C
        return text
    spans: list[list[int]] = []
    while match is not None:
        start = match.start()
        for form in index.forms[match.group()]:  # longest first
            if text.startswith(form, start):
                end = start + len(form)
                if spans and start <= spans[-1][1]:
                    spans[-1][1] = max(spans[-1][1], end)
                else:
                    spans.append([start, end])
                break
        match = heads.search(text, start + 1)
    if not spans:
        return text
    parts: list[str] = []
    last = 0
    for start, end in spans:
        parts += (text[last:start], MASK)
        last = end
    parts.append(text[last:])
    return "".join(parts)


def redact_data(value: Any, _depth: int = 0) -> Any:
    """A copy of a JSON-like structure with every string (keys included) redacted.

    Redacting the strings before serialising keeps the output well-formed whatever the
    secret is (a password ``true`` must not turn ``"ok":true`` into ``"ok":******``), and
    sees each string before JSON escapes it.
    """
    if isinstance(value, str):
        return redact(value)
    if _depth > _MAX_DEPTH:
        return redact(str(value))
    if isinstance(value, Mapping):
        return {
            (redact(k) if isinstance(k, str) else k): redact_data(v, _depth + 1) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_data(v, _depth + 1) for v in value]
    return value


def shown(value: object, limit: int = 60, *, quoted: bool = True) -> str:
    """``value`` as a message quotes it: redacted, then cut to ``limit`` characters, then escaped.

    The one way a value is quoted in an error or a log line, so that no caller can cut or
    escape a secret before it has been masked. Escaped as ``repr`` escapes (so a newline
    cannot forge a log line), in quotes unless ``quoted=False``. The escaped text is
    redacted once more: an escape such as ``\\x01`` could spell out the start of a
    registered value.
    """
    text = redact(value if isinstance(value, str) else str(value))
    escaped = repr(text[:limit])
    return redact((escaped if quoted else escaped[1:-1]) + ("…" if len(text) > limit else ""))


def mask_properties(properties: dict[str, str]) -> dict[str, str]:
    """A copy of client properties fit for a response: credentials shown as ``******``."""
    return {k: (MASK if k in SENSITIVE_PROPERTIES else redact(v)) for k, v in properties.items()}


def _current_index() -> _Index:
    """The search index, rebuilt first if the registry changed since it was built.

    One regex finds the first characters of every form (grouped by the first one, so the
    engine tries each starting character once, not each form); a hit is confirmed with
    ``str.startswith`` against the forms with that head. A single alternation of all forms
    costs time proportional to the number of forms at every position of every text, and
    recompiles all of them on each change; Aho-Corasick libraries (pyahocorasick) would do
    this too, but are a compiled dependency the layer does not otherwise need.
    """
    global _index, _stale  # noqa: PLW0603 - see register
    if not _stale:
        return _index
    with _lock:
        if _stale:
            by_first: dict[str, list[str]] = {}
            for head in _forms:
                by_first.setdefault(head[0], []).append(re.escape(head[1:]))
            pattern = "|".join(
                re.escape(first) + ("(?:" + "|".join(rest) + ")" if len(rest) > 1 else rest[0])
                for first, rest in by_first.items()
            )
            _index = _Index(
                re.compile(pattern) if pattern else None,
                {head: tuple(sorted(forms, key=len, reverse=True)) for head, forms in _forms.items()},
            )
            _stale = False
        return _index


def _encodings(secret: str) -> set[str]:
    """Every form of ``secret`` that text leaving the function may carry."""
    texts = {secret}
    for _ in range(2):  # escaped, and escaped again (a JSON line quoting a repr, a repr of JSON)
        texts |= {escaped for text in texts for escaped in _escapes(text)}
    forms = set(texts)
    for text in {secret, json.dumps(secret)[1:-1]}:  # base64 of the value and of its JSON text
        forms |= _base64_forms(text.encode("utf-8", "surrogatepass"))
    forms |= _url_forms(secret)
    return {form for form in forms if len(form) >= _MIN_SECRET_LENGTH and form not in MASK}


def _escapes(text: str) -> set[str]:
    """JSON string bodies (ASCII-only and not) and Python repr bodies (of str and of UTF-8 bytes).

    A repr is quoted with ``'`` (then ``'`` is escaped) unless only ``'`` occurs; inside a
    longer string either may happen, so both are produced.
    """
    data = text.encode("utf-8", "surrogatepass")
    single = repr("'\"" + text)[4:-1]  # both quotes present: Python picks ', escapes it
    single_bytes = repr(b"'\"" + data)[5:-1]
    return {
        json.dumps(text)[1:-1],
        json.dumps(text, ensure_ascii=False)[1:-1],
        single,
        single.replace("\\'", "'"),
        single_bytes,
        single_bytes.replace("\\'", "'"),
    }


def _base64_forms(data: bytes) -> set[str]:
    """Standard and URL-safe base64 of ``data``, alone and at each alignment inside longer data.

    Inside a longer base64 text (a record value, a SASL message) the secret's bytes start at
    any offset modulo 3; for each offset the characters that depend only on the secret's
    bytes are the same whatever surrounds them.
    """
    forms = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data).decode("ascii")
        first, last = -(-8 * offset // 6), 8 * (offset + len(data)) // 6
        forms.add(encoded[first:last])
        if offset == 0:
            forms |= {encoded, encoded.rstrip("=")}
    forms |= {form.translate(_URLSAFE) for form in forms}
    return {form for form in forms if len(form) >= _MIN_BASE64_LENGTH}


def _url_forms(secret: str) -> set[str]:
    """Percent-encoded as ``quote`` and ``quote_plus`` write it (``/`` kept or not), hex in either case."""
    forms = {
        encode(secret, safe=safe, errors="surrogatepass")
        for encode in (quote, quote_plus)
        for safe in ("", "/")
    }
    return forms | {_PERCENT_HEX.sub(lambda m: m.group().lower(), form) for form in forms}
