"""Server TLS: the operator's certificate, or a self-signed one made on first start."""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import ssl
from pathlib import Path

from roost.protocol.errors import ErrorCode, RoostError
from roost.protocol.tls import cert_fingerprint
from roost.server.config import ServerConfig

log = logging.getLogger("roost.server")


def certificate_files(config: ServerConfig) -> tuple[Path, Path]:
    """The (certificate, key) to serve: the configured pair, or the generated one."""
    if config.tls_cert:
        return Path(config.tls_cert), Path(config.tls_key)
    folder = Path(config.data_dir) / "tls"
    cert, key = folder / "cert.pem", folder / "key.pem"
    if not (cert.exists() and key.exists()):
        generate_self_signed(cert, key, config.server_name, config.host)
        log.info("generated a self-signed certificate in %s", folder)
    return cert, key


def generate_self_signed(cert_path: Path, key_path: Path, name: str, host: str) -> None:
    """A new EC P-256 key and a ten-year self-signed certificate for it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name or "roost")])
    alt: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    try:
        ip = ipaddress.ip_address(host)
        if not ip.is_unspecified and not ip.is_loopback:
            alt.append(x509.IPAddress(ip))
    except ValueError:
        if host and host != "localhost":
            alt.append(x509.DNSName(host))
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # The key is readable by the server's user only, from its first byte on disk.
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key_bytes)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def server_context(config: ServerConfig) -> ssl.SSLContext | None:
    """The TLS context to listen with, or None when TLS is off."""
    if not config.tls:
        return None
    cert, key = certificate_files(config)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise RoostError(
            ErrorCode.BAD_REQUEST, f"cannot load the TLS certificate {cert} and key {key}: {exc}"
        ) from exc
    log.info("TLS certificate %s, fingerprint %s", cert, fingerprint_of(cert))
    return ctx


def fingerprint_of(cert_path: Path) -> str:
    """The fingerprint clients pin, for the operator to compare."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    # The first certificate of a chain file is the server's own.
    first = x509.load_pem_x509_certificates(cert_path.read_bytes())[0]
    return cert_fingerprint(first.public_bytes(serialization.Encoding.DER))
