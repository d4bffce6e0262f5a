"""What TLS looks like to users on both ends: the certificate fingerprint format."""

from __future__ import annotations

import hashlib


def cert_fingerprint(der: bytes) -> str:
    """``SHA256:AB:CD:...`` of a DER certificate (as ``openssl x509 -fingerprint -sha256``)."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return "SHA256:" + ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))
