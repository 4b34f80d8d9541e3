"""SASL mechanisms, server side: PLAIN and SCRAM-SHA-256/512, as a Kafka broker judges them.

The proxy (:mod:`local.secure.proxy`) plays the broker's part of the exchange, since the
embedded broker has no SASL of its own; a session here turns each client token into the
broker's reply, or into :class:`AuthenticationFailed` with the words a real broker would use,
so that the client's error handling meets what it meets in production.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

SUPPORTED_MECHANISMS = frozenset({"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"})
SCRAM_ITERATIONS = 4096  # Kafka's minimum; kafka-python refuses more than 1,000,000
_SCRAM_HASHES: dict[str, Callable[..., Any]] = {
    "SCRAM-SHA-256": hashlib.sha256,
    "SCRAM-SHA-512": hashlib.sha512,
}


class AuthenticationFailed(Exception):
    """Bad credentials or a malformed exchange; the message goes back to the client."""


@dataclass(frozen=True)
class _ScramCredential:
    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes


def _scram_credential(mechanism: str, password: str) -> _ScramCredential:
    """What a SCRAM server stores instead of the password (RFC 5802 §3)."""
    digest = _SCRAM_HASHES[mechanism]
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac(digest().name, password.encode(), salt, SCRAM_ITERATIONS)
    client_key = hmac.digest(salted, b"Client Key", digest)
    return _ScramCredential(
        salt=salt,
        iterations=SCRAM_ITERATIONS,
        stored_key=digest(client_key).digest(),
        server_key=hmac.digest(salted, b"Server Key", digest),
    )


def _invalid_credentials(mechanism: str) -> AuthenticationFailed:
    # The same words as a Kafka broker, and the same answer for an unknown user and a bad password.
    return AuthenticationFailed(
        "Authentication failed during authentication due to invalid credentials"
        f" with SASL mechanism {mechanism}"
    )


class _SaslSession:
    """One client's server-side SASL exchange: ``step`` maps each client token to a reply."""

    mechanism: str
    username: str | None = None  # the identity claimed so far, authenticated or not

    def step(self, token: bytes) -> tuple[bytes, bool]:
        """The reply to ``token`` and whether authentication is now complete."""
        raise NotImplementedError


class _PlainSession(_SaslSession):
    """RFC 4616: a single ``authzid NUL authcid NUL password`` token, an empty reply on success."""

    mechanism = "PLAIN"

    def __init__(self, users: Mapping[str, str]) -> None:
        self._users = users

    def step(self, token: bytes) -> tuple[bytes, bool]:
        parts = token.split(b"\x00")
        if len(parts) != 3:
            raise AuthenticationFailed("Invalid SASL/PLAIN response: expected 3 tokens")
        authzid, authcid, password = (part.decode(errors="replace") for part in parts)
        if authzid and authzid != authcid:
            raise AuthenticationFailed(
                "Authentication failed: Client requested an authorization id that is different from username"
            )
        self.username = authcid
        expected = self._users.get(authcid)
        if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
            raise _invalid_credentials(self.mechanism)
        return b"", True


def _scram_attributes(text: str) -> list[tuple[str, str]]:
    pairs = []
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep or len(key) != 1:
            raise AuthenticationFailed(f"Invalid SCRAM attribute {item!r}")
        pairs.append((key, value))
    return pairs


class _ScramSession(_SaslSession):
    """RFC 5802 / RFC 7677 server: client-first → server-first → client-final → server-final."""

    def __init__(self, mechanism: str, credentials: Mapping[str, _ScramCredential]) -> None:
        self.mechanism = mechanism
        self._digest = _SCRAM_HASHES[mechanism]
        self._credentials = credentials
        self._state = "client-first"
        self._gs2_header = ""
        self._client_first_bare = ""
        self._server_first = ""
        self._nonce = ""
        self._credential: _ScramCredential | None = None

    def step(self, token: bytes) -> tuple[bytes, bool]:
        try:
            text = token.decode()
        except UnicodeDecodeError:
            raise AuthenticationFailed("Invalid SCRAM message: not UTF-8") from None
        if self._state == "client-first":
            return self._client_first(text), False
        if self._state == "client-final":
            return self._client_final(text), True
        raise AuthenticationFailed("Unexpected SCRAM message after authentication")

    def _client_first(self, text: str) -> bytes:
        cbind, _, rest = text.partition(",")
        authzid, _, bare = rest.partition(",")
        if cbind.startswith("p="):
            raise AuthenticationFailed("SCRAM channel binding is not supported")
        if cbind not in ("n", "y") or (authzid and not authzid.startswith("a=")):
            raise AuthenticationFailed("Invalid SCRAM client-first message: bad GS2 header")
        attributes = _scram_attributes(bare)
        if len(attributes) < 2 or attributes[0][0] != "n" or attributes[1][0] != "r" or not attributes[1][1]:
            raise AuthenticationFailed("Invalid SCRAM client-first message: expected n=...,r=...")
        self.username = attributes[0][1].replace("=2C", ",").replace("=3D", "=")
        credential = self._credentials.get(self.username)
        if credential is None:
            raise _invalid_credentials(self.mechanism)
        self._credential = credential
        self._gs2_header = f"{cbind},{authzid},"
        self._client_first_bare = bare
        self._nonce = attributes[1][1] + secrets.token_urlsafe(18)  # urlsafe: never a comma
        salt = base64.b64encode(credential.salt).decode()
        self._server_first = f"r={self._nonce},s={salt},i={credential.iterations}"
        self._state = "client-final"
        return self._server_first.encode()

    def _client_final(self, text: str) -> bytes:
        assert self._credential is not None
        self._state = "done"
        without_proof, sep, proof_b64 = text.rpartition(",p=")
        if not sep:
            raise AuthenticationFailed("Invalid SCRAM client-final message: no proof")
        attributes = dict(_scram_attributes(without_proof))
        expected_binding = base64.b64encode(self._gs2_header.encode()).decode()
        if attributes.get("c") != expected_binding:
            raise AuthenticationFailed("Invalid SCRAM client-final message: channel binding mismatch")
        if attributes.get("r") != self._nonce:
            raise AuthenticationFailed("Invalid SCRAM client-final message: nonce mismatch")
        try:
            proof = base64.b64decode(proof_b64, validate=True)
        except ValueError:
            raise AuthenticationFailed("Invalid SCRAM client-final message: proof is not base64") from None
        auth_message = f"{self._client_first_bare},{self._server_first},{without_proof}".encode()
        client_signature = hmac.digest(self._credential.stored_key, auth_message, self._digest)
        if len(proof) != len(client_signature):
            raise _invalid_credentials(self.mechanism)
        client_key = bytes(a ^ b for a, b in zip(proof, client_signature, strict=True))
        if not hmac.compare_digest(self._digest(client_key).digest(), self._credential.stored_key):
            raise _invalid_credentials(self.mechanism)
        server_signature = hmac.digest(self._credential.server_key, auth_message, self._digest)
        return b"v=" + base64.b64encode(server_signature)
