"""Field encryption and blind indexes."""

from __future__ import annotations

import os
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cs_register.crypto import BLIND_INDEX_BITS, DecryptionError, Keyring

CHECK_CHARACTERS = "0123456789ABCDEFHJKLMNPRSTUVWXY"
# Built once: Hypothesis tests must not depend on function-scoped fixtures.
KEYRING = Keyring(encryption_key=os.urandom(32), index_key=os.urandom(32))


def identity_code(ddmmyy: str, sign: str, individual: str) -> str:
    return f"{ddmmyy}{sign}{individual}{CHECK_CHARACTERS[int(ddmmyy + individual) % 31]}"


CODE = identity_code("150683", "-", "234")
ROW = str(uuid.uuid4())


def test_round_trip():
    ciphertext = KEYRING.identity_code.encrypt(CODE, row_id=ROW)
    assert KEYRING.identity_code.decrypt(ciphertext, row_id=ROW) == CODE


def test_ciphertext_does_not_contain_the_plaintext_and_is_randomised():
    first = KEYRING.identity_code.encrypt(CODE, row_id=ROW)
    second = KEYRING.identity_code.encrypt(CODE, row_id=ROW)
    assert CODE.encode() not in first
    assert first != second  # a fresh nonce each time: equal codes do not look equal


def test_ciphertext_is_bound_to_its_row():
    ciphertext = KEYRING.identity_code.encrypt(CODE, row_id=ROW)
    with pytest.raises(DecryptionError):
        KEYRING.identity_code.decrypt(ciphertext, row_id=str(uuid.uuid4()))


def test_ciphertext_is_bound_to_its_purpose():
    ciphertext = KEYRING.identity_code.encrypt(CODE, row_id=ROW)
    with pytest.raises(DecryptionError):
        KEYRING.revision_value.decrypt(ciphertext, row_id=ROW)


def test_another_key_cannot_decrypt():
    other = Keyring(encryption_key=os.urandom(32), index_key=os.urandom(32))
    ciphertext = KEYRING.identity_code.encrypt(CODE, row_id=ROW)
    with pytest.raises(DecryptionError):
        other.identity_code.decrypt(ciphertext, row_id=ROW)


@pytest.mark.parametrize(
    "position", [0, 1, 12, 13, -1], ids=["version", "nonce", "nonce-end", "body", "tag"]
)
def test_tampering_fails_authentication(position):
    ciphertext = bytearray(KEYRING.identity_code.encrypt(CODE, row_id=ROW))
    ciphertext[position] ^= 0x01
    with pytest.raises(DecryptionError):
        KEYRING.identity_code.decrypt(bytes(ciphertext), row_id=ROW)


@pytest.mark.parametrize("cut", [0, 1, 13, 28])
def test_truncated_ciphertext_fails(cut):
    ciphertext = KEYRING.identity_code.encrypt(CODE, row_id=ROW)
    with pytest.raises(DecryptionError):
        KEYRING.identity_code.decrypt(ciphertext[:cut], row_id=ROW)


def test_same_code_gives_same_index_within_the_bucket_range():
    first = KEYRING.identity_code.blind_index(CODE)
    assert first == KEYRING.identity_code.blind_index(CODE)
    assert 0 <= first < 2**BLIND_INDEX_BITS


def test_index_depends_on_the_index_key():
    other = Keyring(encryption_key=os.urandom(32), index_key=os.urandom(32))
    codes = [identity_code("150683", "-", f"{n:03d}") for n in range(2, 22)]
    ours = [KEYRING.identity_code.blind_index(code) for code in codes]
    theirs = [other.identity_code.blind_index(code) for code in codes]
    assert ours != theirs


def test_century_sign_changes_the_index_and_exact_compare_tells_codes_apart():
    pairs = [
        (identity_code("100190", "-", f"{n:03d}"), identity_code("100190", "Y", f"{n:03d}"))
        for n in range(2, 42)
    ]
    # Buckets are 16 bits, so one pair may share a bucket; forty pairs all sharing one cannot.
    assert any(
        KEYRING.identity_code.blind_index(a) != KEYRING.identity_code.blind_index(b)
        for a, b in pairs
    )
    for a, b in pairs:
        stored = KEYRING.identity_code.decrypt(
            KEYRING.identity_code.encrypt(a, row_id=ROW), row_id=ROW
        )
        assert stored == a
        assert stored != b


def test_index_is_truncated_so_many_codes_share_a_bucket():
    codes = [identity_code("150683", "-", f"{n:03d}") for n in range(2, 900)]
    buckets = {KEYRING.identity_code.blind_index(code) for code in codes}
    assert all(0 <= bucket < 2**BLIND_INDEX_BITS for bucket in buckets)
    # 898 codes into 65536 buckets: some spread, but nothing like a one-to-one full hash.
    assert len(buckets) > 800


@given(plaintext=st.text(max_size=300), row_id=st.uuids().map(str))
def test_round_trip_property(plaintext, row_id):
    for cipher in (KEYRING.identity_code, KEYRING.revision_value):
        assert cipher.decrypt(cipher.encrypt(plaintext, row_id=row_id), row_id=row_id) == plaintext


@given(
    plaintext=st.text(min_size=1, max_size=50),
    row_id=st.uuids().map(str),
    other_row=st.uuids().map(str),
)
def test_other_row_never_decrypts_property(plaintext, row_id, other_row):
    if row_id == other_row:
        return
    ciphertext = KEYRING.revision_value.encrypt(plaintext, row_id=row_id)
    with pytest.raises(DecryptionError):
        KEYRING.revision_value.decrypt(ciphertext, row_id=other_row)
