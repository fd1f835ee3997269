"""TLS certificates the project makes itself: a CA, a server certificate for 127.0.0.1 and
localhost signed by it, and a client certificate, as PEM files.

The local stack's (`stack_certificates`) serve its Kafka when
`kafka.security` is `sasl_ssl` and its MariaDB and PostgreSQL when `stack.tls` is on; the
tests make throw-away ones the same way. Production brings certificates from its own CA.
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cdc_ods.config import Config
from cdc_ods.secrets import write_private

STACK_VALID_DAYS = 825
RENEW_BEFORE = datetime.timedelta(days=30)
SERVER_CERT, SERVER_KEY = "server.pem", "server.key"


@dataclass(frozen=True)
class Certificates:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    @classmethod
    def under(cls, directory: Path) -> Certificates:
        names = ("ca.pem", SERVER_CERT, SERVER_KEY, "client.pem", "client.key")
        return cls(*(directory / name for name in names))


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def write_certificates(
    directory: Path, client: str = "client", ca_name: str = "cdc test CA", days: int = 2
) -> Certificates:
    """The files under `directory` (keys mode 0600); valid from an hour ago for `days` days."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    valid = {
        "not_valid_before": now - datetime.timedelta(hours=1),
        "not_valid_after": now + datetime.timedelta(days=days),
    }
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder(subject_name=_name(ca_name), issuer_name=_name(ca_name), **valid)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(
        common_name: str, names: list[x509.GeneralName]
    ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder(subject_name=_name(common_name), issuer_name=ca.subject, **valid)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
        )
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(ca_key, hashes.SHA256()), key

    server, server_key = leaf(
        "127.0.0.1", [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    )
    client_cert, client_key = leaf(client, [])
    paths = Certificates.under(directory)
    for path, key in ((paths.server_key, server_key), (paths.client_key, client_key)):
        write_private(path, _key_pem(key))
    paths.server_cert.write_bytes(_pem(server))
    paths.client_cert.write_bytes(_pem(client_cert))
    paths.ca.write_bytes(_pem(ca))  # last: its presence means the set is whole
    return paths


def stack_certificates(config: Config) -> Certificates:
    """The local stack's certificates (its CA is `config.stack_ca_file`): made on first use,
    and made again (with a new CA) when a file is missing or they expire within 30 days."""
    paths = Certificates.under(config.stack_ca_file.parent)
    if all(p.is_file() for p in vars(paths).values()):
        server = x509.load_pem_x509_certificate(paths.server_cert.read_bytes())
        if server.not_valid_after_utc - datetime.datetime.now(datetime.UTC) > RENEW_BEFORE:
            return paths
    return write_certificates(paths.ca.parent, "cdc-ods", "cdc-ods local stack CA", STACK_VALID_DAYS)


def server_files(config: Config, directory: Path, owner: str | None) -> tuple[Path, Path]:
    """The stack's server certificate and key copied into a service's `directory`, owned by
    the account it runs as (`owner`; None: this one): MariaDB and PostgreSQL read their key
    only from a file they own that nobody else reads."""
    certificates = stack_certificates(config)
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / SERVER_CERT, directory / SERVER_KEY
    cert.write_bytes(certificates.server_cert.read_bytes())
    write_private(key, certificates.server_key.read_bytes())
    if owner is not None:
        for path in (cert, key):
            shutil.chown(path, owner, owner)
    return cert, key
