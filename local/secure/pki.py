"""A throwaway PKI for tests and local runs: a CA, server and client certificates, their keys.

The connector must be shown to build working TLS contexts from what users give it (PEM texts,
files, encrypted or plain keys), so the tests need real certificates, yet none may outlive the
test: everything here is made on the spot, expires in a day and is never written outside the
caller's (temporary) directory. :func:`make_test_pki` makes the files a TLS listener and
kafka-python want; :class:`CertificateAuthority` issues further key pairs for tests that need
the key material in a particular form (encrypted, PKCS#8 or traditional).
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: Extended key usages for :meth:`CertificateAuthority.issue`, so callers need no ``cryptography``.
SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH


@dataclass(frozen=True)
class Pki:
    """A throwaway CA with a server certificate for ``127.0.0.1``/``localhost``, as files and texts.

    Texts are there because the connector may receive its truststore as PEM text (a secret), the
    files because kafka-python's ``ssl_cafile``/``ssl_certfile`` want paths.
    """

    directory: Path
    ca_pem: str
    ca_file: Path
    server_cert_pem: str
    server_key_pem: str
    server_cert_file: Path
    server_key_file: Path
    client_cert_pem: str | None = None
    client_key_pem: str | None = None
    client_cert_file: Path | None = None
    client_key_file: Path | None = None

    def server_context(self, *, require_client_cert: bool = False) -> ssl.SSLContext:
        """The proxy's TLS context; with ``require_client_cert`` clients need a cert from this CA."""
        return tls_server_context(
            self.server_cert_file,
            self.server_key_file,
            client_ca_pem=self.ca_pem if require_client_cert else None,
        )


def tls_server_context(
    cert_file: Path | str, key_file: Path | str, *, client_ca_pem: str | None = None
) -> ssl.SSLContext:
    """A TLS server context (TLS 1.2 or newer) for a certificate and key in files.

    Files, because :meth:`ssl.SSLContext.load_cert_chain` reads nothing else. With
    ``client_ca_pem`` clients must present a certificate issued by that CA (mutual TLS).
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    if client_ca_pem is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cadata=client_ca_pem)
    return context


def _new_key() -> ec.EllipticCurvePrivateKey:
    # P-256 keys are generated in microseconds, unlike RSA; every TLS stack in use accepts them.
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(
    key: ec.EllipticCurvePrivateKey, password: str | None = None, *, traditional: bool = False
) -> str:
    """``key`` as PEM: PKCS#8 (``BEGIN PRIVATE KEY``) unless ``traditional`` (``BEGIN EC PRIVATE KEY``).

    With a ``password`` the key is encrypted (``BEGIN ENCRYPTED PRIVATE KEY`` in PKCS#8): users
    hand the connector keys in every one of these forms, and each must be readable.
    """
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    )
    private_format = (
        serialization.PrivateFormat.TraditionalOpenSSL if traditional else serialization.PrivateFormat.PKCS8
    )
    return key.private_bytes(serialization.Encoding.PEM, private_format, encryption).decode()


def cert_pem(cert: x509.Certificate) -> str:
    """``cert`` as PEM text."""
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _issue(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    usage: x509.ObjectIdentifier | None = None,
    hostnames: Collection[str] = (),
    ips: Collection[str] = (),
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer is not None else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))  # tolerate a little clock skew
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    alt_names: list[x509.GeneralName] = [x509.DNSName(h) for h in hostnames]
    alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass(frozen=True)
class KeyPair:
    """A private key and its certificate, kept as objects rather than texts.

    Each test then serializes the key the way the code under test must read it
    (:meth:`key_pem`), and can write the pair where a TLS listener wants files (:meth:`write`).
    """

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @property
    def cert_pem(self) -> str:
        return cert_pem(self.certificate)

    def key_pem(self, password: str | None = None, *, traditional: bool = False) -> str:
        """The key as PEM; see :func:`key_pem` for the forms."""
        return key_pem(self.key, password, traditional=traditional)

    def write(self, directory: Path | str, name: str) -> tuple[Path, Path]:
        """Write ``<name>.pem`` and ``<name>.key`` (unencrypted, owner-only) to ``directory``."""
        cert_file, key_file = Path(directory) / f"{name}.pem", Path(directory) / f"{name}.key"
        cert_file.write_text(self.cert_pem)
        key_file.write_text(self.key_pem())
        key_file.chmod(0o600)
        return cert_file, key_file


@dataclass(frozen=True)
class CertificateAuthority(KeyPair):
    """A self-signed CA that issues leaf certificates (P-256, SHA-256, valid for a day)."""

    @classmethod
    def create(cls, name: str = "kafka-connector test CA") -> CertificateAuthority:
        key = _new_key()
        return cls(key, _issue(name, key, None, key, ca=True))

    def issue(
        self,
        subject: str,
        *,
        usage: x509.ObjectIdentifier | None = None,
        hostnames: Collection[str] = (),
        ips: Collection[str] = (),
    ) -> KeyPair:
        """A fresh key and a certificate for it: CN ``subject``, SANs ``hostnames`` and ``ips``.

        ``usage`` is the extended key usage (:data:`SERVER_AUTH`, :data:`CLIENT_AUTH`): TLS
        stacks refuse a server certificate marked for clients only, and the other way round.
        """
        key = _new_key()
        certificate = _issue(
            subject, key, self.certificate, self.key, usage=usage, hostnames=hostnames, ips=ips
        )
        return KeyPair(key, certificate)


def make_test_pki(
    directory: Path | str,
    *,
    client_cert: bool = False,
    hostnames: Collection[str] = ("localhost",),
    ips: Collection[str] = ("127.0.0.1",),
) -> Pki:
    """Write a fresh CA, a server certificate (SAN DNS + IP) and optionally a client one to ``directory``.

    Everything expires in a day and the keys never leave the test's temporary directory.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ca = CertificateAuthority.create()
    server = ca.issue("localhost", usage=SERVER_AUTH, hostnames=hostnames, ips=ips)
    texts = {
        "ca.pem": ca.cert_pem,
        "server.pem": server.cert_pem,
        "server.key": server.key_pem(),
    }
    if client_cert:
        client = ca.issue("kafka-connector test client", usage=CLIENT_AUTH)
        texts["client.pem"] = client.cert_pem
        texts["client.key"] = client.key_pem()
    for filename, text in texts.items():
        path = directory / filename
        path.write_text(text)
        if filename.endswith(".key"):
            path.chmod(0o600)
    return Pki(
        directory=directory,
        ca_pem=texts["ca.pem"],
        ca_file=directory / "ca.pem",
        server_cert_pem=texts["server.pem"],
        server_key_pem=texts["server.key"],
        server_cert_file=directory / "server.pem",
        server_key_file=directory / "server.key",
        client_cert_pem=texts.get("client.pem"),
        client_key_pem=texts.get("client.key"),
        client_cert_file=directory / "client.pem" if client_cert else None,
        client_key_file=directory / "client.key" if client_cert else None,
    )
