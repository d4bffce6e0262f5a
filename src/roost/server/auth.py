"""Password hashing (argon2, off the event loop) and session tokens."""

from __future__ import annotations

import asyncio
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Passwords:
    """Hashes and checks passwords in worker threads so the loop never waits."""

    def __init__(self, time_cost: int = 2, memory_kib: int = 19 * 1024) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
        self._dummy_hash: str | None = None

    async def waste_time(self) -> None:
        """Spend what a verification costs, for unknown accounts, so that the
        reply time does not tell which names exist."""
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash(secrets.token_hex(8))
        await self.verify(self._dummy_hash, "")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        def check() -> bool:
            try:
                return self._hasher.verify(password_hash, password)
            except (VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(check)


def new_token() -> str:
    return secrets.token_urlsafe(32)


DIGEST_SIZE = 32  # bytes of a raw token digest (SHA-256)


def raw_token_digest(token: str) -> bytes:
    """Tokens are stored hashed: a leaked database does not leak sessions. The
    store keys a token by this digest's hex."""
    return hashlib.sha256(token.encode()).digest()


def split_digests(joined: bytes) -> list[str]:
    """The store's digests of raw digests kept end to end in one bytes object."""
    return [joined[i : i + DIGEST_SIZE].hex() for i in range(0, len(joined), DIGEST_SIZE)]
