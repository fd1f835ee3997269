"""TLS to a source: cdc.yaml's `tls:` block as each client needs it.

One mode name per level of trust, mapped onto every client that connects to a source:

| cdc.yaml          | libpq, pgjdbc | MySQL, Debezium MySQL | Debezium MariaDB | PyMySQL                |
|-------------------|---------------|-----------------------|------------------|------------------------|
| `disabled`        | `disable`     | `disabled`            | `disable`        | `ssl_disabled`         |
| `required`        | `require`     | `required`            | `trust`          | TLS, no check          |
| `verify_ca`       | `verify-ca`   | `verify_ca`           | `verify-ca`      | CA, not the host name  |
| `verify_identity` | `verify-full` | `verify_identity`     | `verify-full`    | CA and host name       |

(Debezium 3.5's MariaDB connector takes the MariaDB Connector/J names, not the ones its
shared MariaDB/MySQL documentation lists.) Without a `tls:` block each client keeps its
own default.

The Java side needs some files in other forms than the PEM files cdc.yaml names; they are
derived into `<data_dir>/tls/` whenever a connector config is generated, byte for byte the
same for the same input (except the PKCS12 keystore, rewritten only when its contents change):
- MySQL family: Debezium's binlog reader loads the CA from a JKS truststore
  (`database.ssl.truststore`, opened without a password), and passes it on to the JDBC
  driver (MySQL Connector/J, and MariaDB Connector/J under the same option names). A client
  certificate goes into a PKCS12 keystore (`database.ssl.keystore`) protected by the capture
  user's password: `${env:...}`, the variable the Connect worker already has.
- PostgreSQL: pgjdbc reads the PEM CA and certificate, but a client key only as
  unencrypted PKCS-8 DER (`database.sslkey`).
A Connect worker on another machine needs these files at its own paths:
`connectors/<name>.json` overrides the path options.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from cdc_ods.config import TLS_FILES, Config, SourceConfig
from cdc_ods.errors import ConfigError

LIBPQ_MODES = {
    "disabled": "disable",
    "required": "require",
    "verify_ca": "verify-ca",
    "verify_identity": "verify-full",
}
MARIADB_CONNECTOR_MODES = {
    "disabled": "disable",
    "required": "trust",
    "verify_ca": "verify-ca",
    "verify_identity": "verify-full",
}


@dataclass(frozen=True)
class Tls:
    """A source's `tls:` block with its files resolved, and where derived files go."""

    source: str
    mode: str
    ca: Path | None
    cert: Path | None
    key: Path | None
    store: Path  # <data_dir>/tls: the files derived for the Java clients

    @classmethod
    def of(cls, config: Config, source: SourceConfig) -> Tls | None:
        if source.tls is None:
            return cls.of_local_stack(config, source.name) if source.is_local else None
        files = {key: source.tls.file(key, config.root) for key in TLS_FILES}
        return cls(
            source.name, source.tls.mode, files["ca_file"], files["cert_file"], files["key_file"],
            config.data_dir / "tls",
        )  # fmt: skip

    @classmethod
    def of_local_stack(cls, config: Config, name: str) -> Tls | None:
        """A connection to the local stack's MariaDB or PostgreSQL: with `stack.tls`, verified
        against the stack's CA (`cdc_ods.stack.certificates`); else plain text."""
        if not config.stack.tls:
            return None
        return cls(name, "verify_identity", config.stack_ca_file, None, None, config.data_dir / "tls")

    @property
    def verifies(self) -> bool:
        return self.mode in ("verify_ca", "verify_identity")

    def _read(self, path: Path, key: str) -> bytes:
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"sources.{self.source}.tls.{key}: cannot read {path}: {exc.strerror}"
            ) from None

    def ca_certificates(self) -> list[x509.Certificate]:
        assert self.ca is not None
        try:
            return x509.load_pem_x509_certificates(self._read(self.ca, "ca_file"))
        except ValueError:
            raise ConfigError(
                f"sources.{self.source}.tls.ca_file: {self.ca} holds no PEM certificate"
            ) from None

    def client_pair(self) -> tuple[x509.Certificate, Any]:
        """The client certificate and its private key (unencrypted PEM)."""
        assert self.cert is not None and self.key is not None
        try:
            cert = x509.load_pem_x509_certificate(self._read(self.cert, "cert_file"))
        except ValueError:
            raise ConfigError(
                f"sources.{self.source}.tls.cert_file: {self.cert} holds no PEM certificate"
            ) from None
        try:
            key = serialization.load_pem_private_key(self._read(self.key, "key_file"), password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"sources.{self.source}.tls.key_file: {self.key}: not an unencrypted PEM private key ({exc})"
            ) from None
        return cert, key


# --- the project's own connections -------------------------------------------------------


def ssl_context(tls: Tls) -> ssl.SSLContext:
    """The Python TLS context of a non-disabled mode."""
    context = ssl.create_default_context(cafile=str(tls.ca) if tls.ca else None)
    # as libpq and Connector/J: a CA without the extensions X.509 strict mode demands (MySQL's
    # auto-generated certificates lack them) is still a CA
    context.verify_flags &= ~getattr(ssl, "VERIFY_X509_STRICT", 0)
    context.check_hostname = tls.mode == "verify_identity"
    context.verify_mode = ssl.CERT_REQUIRED if tls.verifies else ssl.CERT_NONE
    if tls.cert is not None:
        context.load_cert_chain(str(tls.cert), str(tls.key))
    return context


def pymysql_options(tls: Tls | None) -> dict[str, Any]:
    """Keyword arguments for `pymysql.connect`. With a context PyMySQL refuses a server that
    offers no TLS instead of falling back to plain text."""
    if tls is None:
        return {}
    if tls.mode == "disabled":
        return {"ssl_disabled": True}
    return {"ssl": ssl_context(tls)}


def libpq_options(tls: Tls | None) -> dict[str, Any]:
    """Connection parameters for libpq (psycopg)."""
    if tls is None:
        return {}
    options = {"sslmode": LIBPQ_MODES[tls.mode]}
    for name, path in (("sslrootcert", tls.ca), ("sslcert", tls.cert), ("sslkey", tls.key)):
        if path is not None:
            options[name] = str(path)
    return options


# --- Debezium ----------------------------------------------------------------------------


def postgres_connector_options(tls: Tls | None) -> dict[str, str]:
    """`database.ssl*` of Debezium's PostgreSQL connector (pgjdbc)."""
    if tls is None:
        return {}
    options = {"database.sslmode": LIBPQ_MODES[tls.mode]}
    if tls.ca is not None:
        options["database.sslrootcert"] = str(tls.ca)
    if tls.cert is not None:
        _, key = tls.client_pair()
        der = key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        options["database.sslcert"] = str(tls.cert)
        options["database.sslkey"] = str(_write(tls.store / f"{tls.source}.client-key.pk8", der))
    return options


def binlog_connector_options(
    kind: str, tls: Tls | None, password_env: str, password: str | None
) -> dict[str, str]:
    """`database.ssl.*` of Debezium's MariaDB or MySQL connector. `password_env`/`password`:
    the capture user's, which protects the keystore of a client certificate (`password` is
    needed only with one)."""
    if tls is None:
        return {}
    # MySQL's connector takes the cdc.yaml names as they are; MariaDB's has names of its own
    mode = MARIADB_CONNECTOR_MODES[tls.mode] if kind == "mariadb" else tls.mode
    options = {"database.ssl.mode": mode}
    if tls.ca is not None:
        store = jks_truststore(tls.ca_certificates())
        options["database.ssl.truststore"] = str(_write(tls.store / f"{tls.source}.truststore.jks", store))
    if tls.cert is not None:
        assert password is not None, "a client keystore needs the capture user's password"
        keystore = _pkcs12_keystore(tls, password, tls.store / f"{tls.source}.keystore.p12")
        options["database.ssl.keystore"] = str(keystore)
        options["database.ssl.keystore.password"] = f"${{env:{password_env}}}"
    return options


def jks_truststore(certificates: list[x509.Certificate]) -> bytes:
    """A Java KeyStore (JKS) of trusted certificates, the format Debezium's binlog reader
    opens (`KeyStore.getInstance("JKS")`; Java also opens JKS files as PKCS12).

    Deterministic: aliases `ca0`, `ca1`, ..., each entry dated its certificate's notBefore.
    Its integrity digest is made with the empty password, so it opens both without a
    password (no check) and with an empty one."""
    body = struct.pack(">III", 0xFEEDFEED, 2, len(certificates))
    for index, cert in enumerate(certificates):
        der = cert.public_bytes(serialization.Encoding.DER)
        stamp = int(cert.not_valid_before_utc.timestamp() * 1000)
        body += struct.pack(">I", 2) + _java_utf(f"ca{index}") + struct.pack(">q", stamp)
        body += _java_utf("X.509") + struct.pack(">I", len(der)) + der
    password = b""  # the password's UTF-16BE bytes
    return body + hashlib.sha1(password + b"Mighty Aphrodite" + body).digest()


def _java_utf(text: str) -> bytes:
    data = text.encode("utf-8")  # ASCII here: Java's modified UTF-8 is the same
    return struct.pack(">H", len(data)) + data


def _pkcs12_keystore(tls: Tls, password: str, path: Path) -> Path:
    """The client certificate and key as a PKCS12 keystore; rewritten only when what it holds
    (or its password) changed, since PKCS12 encryption is salted anew each time."""
    cert, key = tls.client_pair()
    if path.is_file():
        try:
            old_key, old_cert, _ = pkcs12.load_key_and_certificates(path.read_bytes(), password.encode())
        except ValueError:  # another password, or not a keystore
            old_key, old_cert = None, None
        if old_cert == cert and old_key is not None and _same_key(old_key, key):
            return path
    encryption = serialization.BestAvailableEncryption(password.encode())
    data = pkcs12.serialize_key_and_certificates(b"client", key, cert, None, encryption)
    return _write(path, data)


def _same_key(a: Any, b: Any) -> bool:
    public = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return a.public_key().public_bytes(*public) == b.public_key().public_bytes(*public)


def _write(path: Path, data: bytes) -> Path:
    """`data` at `path` (mode 0600), unless it is there already."""
    if path.is_file() and path.read_bytes() == data:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)
    return path
