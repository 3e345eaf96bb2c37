"""Password hashing with argon2id, with cost parameters set from the settings at start-up.

The defaults are argon2-cffi's (RFC 9106 low-memory profile: t=3, 64 MiB, p=4). A deployment
may raise them. The test suite lowers them, because hashing at full cost for every account in
several hundred tests costs minutes and proves nothing more. The code path is the same.
Hashes made under other parameters still verify, and they are re-hashed at the next login
(`needs_rehash`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


@dataclass(frozen=True)
class HashingCost:
    time_cost: int = 3
    memory_kib: int = 64 * 1024
    parallelism: int = 4


class _Hashing:
    def __init__(self) -> None:
        self.configure(HashingCost())

    def configure(self, cost: HashingCost) -> None:
        self.cost = cost
        self.hasher = PasswordHasher(
            time_cost=cost.time_cost, memory_cost=cost.memory_kib, parallelism=cost.parallelism
        )
        # Made on first use, not at import: see equalise_timing.
        self._dummy_hash: str | None = None

    def dummy_hash(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))
        return self._dummy_hash


_hashing = _Hashing()


def configure(cost: HashingCost) -> None:
    """Set the cost for new hashes in this process (called by the app factory)."""
    if cost != _hashing.cost:
        _hashing.configure(cost)


def hash_password(password: str) -> str:
    return _hashing.hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hashing.hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hashing.hasher.check_needs_rehash(password_hash)


def equalise_timing(password: str) -> None:
    """Do the work of one verification, so unknown usernames cost what known ones do."""
    verify_password(_hashing.dummy_hash(), password)
