"""Password hashing with argon2id, with cost parameters from the settings, and the password policy.

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
from zxcvbn import zxcvbn

from cs_register.languages import N_


@dataclass(frozen=True)
class HashingCost:
    time_cost: int = 3
    memory_kib: int = 64 * 1024
    parallelism: int = 4


class PasswordHashing:
    """argon2id at one cost. `build_runtime` makes the deployment's one, from the settings, and
    the services that set or check a password are handed it (no process-wide hasher)."""

    def __init__(self, cost: HashingCost | None = None) -> None:
        self.cost = cost or HashingCost()
        self._hasher = PasswordHasher(
            time_cost=self.cost.time_cost,
            memory_cost=self.cost.memory_kib,
            parallelism=self.cost.parallelism,
        )
        # Made on first use, not at start-up: see equalise_timing.
        self._dummy_hash: str | None = None

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    def equalise_timing(self, password: str) -> None:
        """Do the work of one verification, so unknown usernames cost what known ones do."""
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
        self.verify(self._dummy_hash, password)


MIN_PASSWORD_LENGTH = 12


MAX_PASSWORD_LENGTH = 256


# zxcvbn's 0-4 guessability score: 3 is "safely unguessable" against an online attack and a
# slowed-down offline one (about 10^8 guesses and more).
MIN_STRENGTH_SCORE = 3
# Words of this deployment an attacker would try first.
CONTEXT_WORDS = ("cs-register", "customer", "service", "asiakaspalvelu", "sähköposti", "mailbox")
# zxcvbn's time grows with the length; past this much a password is not weak for its length.
_STRENGTH_CHECKED_CHARS = 64


def check_password_policy(
    password: str, *, username: str = "", display_name: str = ""
) -> list[str]:
    """What is wrong with `password` (nothing: an empty list). At least 12 characters, and not
    guessable by zxcvbn's estimate with the account's own names and the deployment's words as
    context ("password1234", "aaaaaaaaaaaa" and twelve spaces are refused)."""
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"Password must be at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        problems.append(f"Password may be at most {MAX_PASSWORD_LENGTH} characters.")
    if username and username.lower() in password.lower():
        problems.append(N_("Password must not contain the username."))
    if not problems:
        context = [username, *display_name.split(), *CONTEXT_WORDS]
        estimate = zxcvbn(password[:_STRENGTH_CHECKED_CHARS], user_inputs=[w for w in context if w])
        if estimate["score"] < MIN_STRENGTH_SCORE:
            warning = estimate["feedback"].get("warning")
            why = f" ({warning.rstrip('.')[0].lower()}{warning.rstrip('.')[1:]})" if warning else ""
            problems.append(
                f"Password is too easy to guess{why}. Use a few unrelated words, or a longer"
                " phrase."
            )
    return problems


def generate_one_time_password(username: str = "") -> str:
    """A random 20-character password that satisfies the policy for `username`."""
    while True:
        password = secrets.token_urlsafe(15)
        # A random string can, very rarely, contain a short username; draw again then.
        if not check_password_policy(password, username=username):
            return password
