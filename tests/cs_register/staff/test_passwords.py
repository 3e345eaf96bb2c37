"""Password hashing: argon2id, production cost by default, re-hash when the cost changes."""

from __future__ import annotations

import pytest

from cs_register.config import PRODUCTION, ConfigurationError
from cs_register.runtime import build_runtime
from cs_register.staff.passwords import HashingCost, PasswordHashing


def test_default_cost_is_argon2id_rfc9106_low_memory_profile():
    hashing = PasswordHashing()
    stored = hashing.hash("a long enough passphrase")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert hashing.verify(stored, "a long enough passphrase")
    assert not hashing.verify(stored, "a long enough passphrasE")


def test_hashes_made_at_another_cost_still_verify_and_ask_for_a_rehash():
    cheap = PasswordHashing(HashingCost(time_cost=1, memory_kib=1024, parallelism=1))
    stored = cheap.hash("a long enough passphrase")
    dearer = PasswordHashing(HashingCost(time_cost=2, memory_kib=2048, parallelism=1))
    assert dearer.verify(stored, "a long enough passphrase")
    assert dearer.needs_rehash(stored)
    assert not dearer.needs_rehash(dearer.hash("a long enough passphrase"))


def test_the_runtime_hashes_at_the_settings_cost(settings):
    stored = build_runtime(settings).passwords.hash("a long enough passphrase")
    assert stored.startswith(
        f"$argon2id$v=19$m={settings.password_hash_memory_kib},"
        f"t={settings.password_hash_time_cost},p={settings.password_hash_parallelism}$"
    )


def test_garbage_hash_is_a_failed_verification_not_an_error():
    assert not PasswordHashing().verify("not-a-hash", "whatever it is")


def test_production_refuses_a_test_grade_hashing_cost(settings):
    with pytest.raises(ConfigurationError, match="PASSWORD_HASH_TIME_COST"):
        settings.with_overrides(env=PRODUCTION, cookie_secure=True, testing=False)
