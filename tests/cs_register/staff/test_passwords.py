"""Password hashing: argon2id, production cost by default, re-hash when the cost changes."""

from __future__ import annotations

import pytest

from cs_register.config import PRODUCTION, ConfigurationError
from cs_register.staff import passwords
from cs_register.staff.passwords import HashingCost


def test_default_cost_is_argon2id_rfc9106_low_memory_profile():
    passwords.configure(HashingCost())
    stored = passwords.hash_password("a long enough passphrase")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert passwords.verify_password(stored, "a long enough passphrase")
    assert not passwords.verify_password(stored, "a long enough passphrasE")


def test_hashes_made_at_another_cost_still_verify_and_ask_for_a_rehash():
    passwords.configure(HashingCost(time_cost=1, memory_kib=1024, parallelism=1))
    cheap = passwords.hash_password("a long enough passphrase")
    passwords.configure(HashingCost(time_cost=2, memory_kib=2048, parallelism=1))
    assert passwords.verify_password(cheap, "a long enough passphrase")
    assert passwords.needs_rehash(cheap)
    assert not passwords.needs_rehash(passwords.hash_password("a long enough passphrase"))


def test_garbage_hash_is_a_failed_verification_not_an_error():
    assert not passwords.verify_password("not-a-hash", "whatever it is")


def test_production_refuses_a_test_grade_hashing_cost(settings):
    with pytest.raises(ConfigurationError, match="PASSWORD_HASH_TIME_COST"):
        settings.with_overrides(env=PRODUCTION, cookie_secure=True, testing=False)
