"""TLS: PEM trust and key material → one ``ssl.SSLContext``."""

from __future__ import annotations

import os
import shutil
import ssl
import tempfile
from collections.abc import Mapping
from typing import Any

from kafka_connector.errors import ConnectorInputError


def store_type(props: Mapping[str, str], key: str) -> str:
    """A key/trust store's type; Kafka's default is JKS, which Python cannot read."""
    return (props.get(key) or "JKS").strip().upper() or "JKS"


def keystore_present(props: Mapping[str, str]) -> bool:
    return bool(
        props.get("ssl.keystore.certificate.chain", "").strip()
        or props.get("ssl.keystore.key", "").strip()
        or (
            store_type(props, "ssl.keystore.type") == "PEM" and props.get("ssl.keystore.location", "").strip()
        )
    )


def tls_kwargs(props: Mapping[str, str], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """An ``ssl_context`` built from PEM material, when there is any.

    kafka-python only takes file names, and silently ignores ``ssl_ciphers`` (3.0.12), so
    the connector builds the context itself: inline PEM text never has to touch disk
    except the client key pair, which OpenSSL only loads from files. Without any PEM
    material or cipher list, kafka-python's defaults stay (system CAs, TLS 1.2+).
    """
    trust_pem = props.get("ssl.truststore.certificates", "").strip()
    trust_file = props.get("ssl.truststore.location", "").strip()
    if store_type(props, "ssl.truststore.type") != "PEM":
        trust_file = ""
    chain = props.get("ssl.keystore.certificate.chain", "").strip()
    key = props.get("ssl.keystore.key", "").strip()
    key_file = props.get("ssl.keystore.location", "").strip()
    if store_type(props, "ssl.keystore.type") != "PEM":
        key_file = ""
    key_password = props.get("ssl.key.password") or ""
    ciphers = kwargs.get("ssl_ciphers")
    if not (trust_pem or trust_file or chain or key or key_file or ciphers):
        return {}

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies certificates and host names
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # as kafka-python's own context
    context.check_hostname = bool(kwargs.get("ssl_check_hostname", True))
    if ciphers:
        context.set_ciphers(ciphers)
    if trust_pem:
        try:
            context.load_verify_locations(cadata=trust_pem)
        except (ssl.SSLError, ValueError):
            raise ConnectorInputError(
                "additional property 'ssl.truststore.certificates' must hold PEM certificates"
            ) from None
    if trust_file:
        try:
            context.load_verify_locations(cafile=trust_file)
        except (OSError, ValueError):  # ssl.SSLError is an OSError
            raise ConnectorInputError(
                "additional property 'ssl.truststore.location' must be a readable PEM certificate file"
            ) from None
    if not (trust_pem or trust_file):
        context.load_default_certs()
    if chain or key:
        if not (chain and key):
            missing = "ssl.keystore.key" if chain else "ssl.keystore.certificate.chain"
            raise ConnectorInputError(
                f"additional property '{missing}' is required with ssl.keystore.type=PEM inline material"
            )
        _load_inline_key_pair(context, chain, key, key_password)
    elif key_file:
        try:
            context.load_cert_chain(key_file, password=key_password)
        except (OSError, ValueError):
            raise ConnectorInputError(
                "additional property 'ssl.keystore.location' could not be loaded: it must be a PEM file "
                "with the private key and certificate chain, and 'ssl.key.password' must open the key"
            ) from None
    return {"ssl_context": context}


_INLINE_KEY_PAIR_ERROR = (
    "additional properties 'ssl.keystore.certificate.chain' and 'ssl.keystore.key' could not be "
    "loaded: they must be a PEM certificate chain and its PEM private key, and "
    "'ssl.key.password' must open the key if it is encrypted"
)


def _load_inline_key_pair(
    context: ssl.SSLContext, chain: str, key: str, password: str, error: str = _INLINE_KEY_PAIR_ERROR
) -> None:
    """Load an inline PEM key pair: private 0600 files in a private directory, deleted at once.

    ``password`` is always passed (empty if none) so an encrypted key without a password
    fails cleanly instead of OpenSSL prompting on a terminal. ``error`` is the input error's
    message, naming where the material came from (it never quotes the material).
    """
    directory = tempfile.mkdtemp(prefix="kafka-tls-")  # mode 0700
    try:
        chain_path = os.path.join(directory, "chain.pem")
        key_path = os.path.join(directory, "key.pem")
        _write_private(chain_path, chain)
        _write_private(key_path, key)
        context.load_cert_chain(chain_path, key_path, password=password)
    except (OSError, ValueError):
        raise ConnectorInputError(error) from None
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def check_key_pair(chain: str, key: str, password: str, error: str) -> None:
    """Raise ``ConnectorInputError(error)`` unless ``chain``/``key`` load as a client key pair.

    For key material from a secret: a broken secret is reported naming the secret before the
    properties it becomes are reported naming ``ssl.keystore.*``, which the user never typed.
    """
    _load_inline_key_pair(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), chain, key, password, error)


def check_certificates(pem: str, error: str) -> None:
    """Raise ``ConnectorInputError(error)`` unless ``pem`` holds PEM certificates (a truststore)."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=pem)
    except (ssl.SSLError, ValueError):
        raise ConnectorInputError(error) from None


def _write_private(path: str, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text if text.endswith("\n") else text + "\n")
