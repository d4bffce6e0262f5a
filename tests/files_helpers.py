"""Helpers shared by the file-transfer tests."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from roost.client import Client

MiB = 1024 * 1024


def make_file(path: Path, size: int, seed: int = 0) -> bytes:
    """A file of ``size`` pseudo-random bytes (random enough that no chunk repeats)."""
    data = _pattern(size, seed)
    path.write_bytes(data)
    return data


def _pattern(size: int, seed: int) -> bytes:
    out = bytearray()
    block = 0
    while len(out) < size:
        out += hashlib.sha512(f"{seed}:{block}".encode()).digest() * 64  # 4 KiB per block
        block += 1
    return bytes(out[:size])


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def blobs(srv: Any) -> set[str]:
    """SHA-256 of every blob in a running server's data folder."""
    root = Path(srv.data_dir) / "blobs"
    return {p.name for p in root.glob("*/*")} if root.exists() else set()


def leftover_uploads(srv: Any) -> list[str]:
    root = Path(srv.data_dir) / "uploads"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def cut_connection(client: Client) -> None:
    """Drop the client's TCP connection at once, as a network failure would."""
    assert client._stream is not None
    client._stream.transport.abort()


def random_file(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data
