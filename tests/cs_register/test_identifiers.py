"""Identifier rules: identity codes (henkilötunnus), phones, emails, names, postal codes."""

from __future__ import annotations

import socket
import unicodedata
from datetime import date

import pytest

from cs_register.errors import ValidationFailed
from cs_register.identifiers import (
    IdentifierError,
    birth_date_of,
    format_phone,
    mask_identity_code,
    normalise_email,
    normalise_identity_code,
    normalise_phone,
    normalise_postal_code,
    normalise_text,
    search_key,
    validate_customer_fields,
)

TODAY = date(2026, 11, 23)
CHECK_CHARACTERS = "0123456789ABCDEFHJKLMNPRSTUVWXY"


def identity_code(ddmmyy: str, sign: str, individual: str) -> str:
    """Build a code with the correct check character (the mod-31 rule, written out here)."""
    return f"{ddmmyy}{sign}{individual}{CHECK_CHARACTERS[int(ddmmyy + individual) % 31]}"


def wrong_check(code: str) -> str:
    correct = code[-1]
    return code[:-1] + ("A" if correct != "A" else "B")


CENTURY_SIGNS = [
    ("+", "150683", date(1883, 6, 15)),
    ("-", "150683", date(1983, 6, 15)),
    ("Y", "150683", date(1983, 6, 15)),
    ("X", "150683", date(1983, 6, 15)),
    ("W", "150683", date(1983, 6, 15)),
    ("V", "150683", date(1983, 6, 15)),
    ("U", "150683", date(1983, 6, 15)),
    ("A", "150612", date(2012, 6, 15)),
    ("B", "150612", date(2012, 6, 15)),
    ("C", "150612", date(2012, 6, 15)),
    ("D", "150612", date(2012, 6, 15)),
    ("E", "150612", date(2012, 6, 15)),
    ("F", "150612", date(2012, 6, 15)),
]


# --- identity codes ------------------------------------------------------------------------


def test_check_character_helper_matches_a_published_example():
    # 131052-308T is the example of the Finnish population register; it anchors the helper.
    assert identity_code("131052", "-", "308") == "131052-308T"


@pytest.mark.parametrize(("sign", "ddmmyy", "born"), CENTURY_SIGNS)
@pytest.mark.parametrize("individual", ["002", "234", "899"])
def test_valid_code_for_every_century_sign(sign, ddmmyy, born, individual):
    code = identity_code(ddmmyy, sign, individual)
    assert normalise_identity_code(code, today=TODAY) == code
    assert birth_date_of(code) == born


@pytest.mark.parametrize(("sign", "ddmmyy", "born"), CENTURY_SIGNS)
def test_wrong_check_character_is_rejected(sign, ddmmyy, born):
    code = wrong_check(identity_code(ddmmyy, sign, "234"))
    with pytest.raises(IdentifierError, match="check character"):
        normalise_identity_code(code, today=TODAY)


@pytest.mark.parametrize(
    ("ddmmyy", "sign"),
    [
        ("310299", "-"),  # 31 February
        ("290223", "-"),  # 1923 was not a leap year
        ("290200", "-"),  # nor was 1900
        ("311183", "Y"),  # 31 November
        ("001183", "-"),  # day zero
        ("151383", "A"),  # month 13
    ],
)
def test_impossible_birth_dates_are_rejected(ddmmyy, sign):
    with pytest.raises(IdentifierError, match="impossible birth date"):
        normalise_identity_code(identity_code(ddmmyy, sign, "234"), today=TODAY)


def test_leap_days_that_exist_are_accepted():
    for code in (identity_code("290224", "-", "234"), identity_code("290200", "A", "234")):
        assert normalise_identity_code(code, today=TODAY) == code


@pytest.mark.parametrize("individual", ["000", "001", "900", "999"])
def test_reserved_and_temporary_individual_numbers_are_rejected(individual):
    # 900-999 are temporary identifiers, not henkilötunnus; 000 and 001 were never issued.
    with pytest.raises(IdentifierError, match="individual number"):
        normalise_identity_code(identity_code("150683", "-", individual), today=TODAY)


def test_birth_date_after_today_is_rejected_relative_to_the_given_day():
    code = identity_code("241126", "A", "234")  # born 24.11.2026
    with pytest.raises(IdentifierError, match="future"):
        normalise_identity_code(code, today=date(2026, 11, 23))
    assert normalise_identity_code(code, today=date(2026, 11, 24)) == code
    assert normalise_identity_code(code, today=date(2027, 1, 1)) == code


def test_surrounding_whitespace_is_trimmed():
    code = identity_code("150683", "-", "234")
    assert normalise_identity_code(f"  {code}\t\n", today=TODAY) == code


def test_lower_case_is_upper_cased():
    code = identity_code("150612", "A", "123")
    assert code != code.lower()
    assert normalise_identity_code(code.lower(), today=TODAY) == code


@pytest.mark.parametrize(
    "spaced",
    ["150683 -234{c}", "150683- 234{c}", "150683-234 {c}", "15 06 83-234{c}", "150683-2 34{c}"],
)
def test_inner_spaces_are_rejected(spaced):
    check = identity_code("150683", "-", "234")[-1]
    with pytest.raises(IdentifierError):
        normalise_identity_code(spaced.format(c=check), today=TODAY)


@pytest.mark.parametrize(
    "malformed",
    ["", "150683", "150683-234", "150683-2345X", "150683*234F", "1506831234F", "150683-234G"],
)
def test_malformed_codes_are_rejected(malformed):
    with pytest.raises(IdentifierError):
        normalise_identity_code(malformed, today=TODAY)


def test_non_ascii_digits_are_rejected():
    # Fullwidth digits would otherwise store one person's code in a second spelling.
    code = identity_code("150683", "-", "234")
    fullwidth = code.translate({ord(d): ord(d) + 0xFEE0 for d in "0123456789"})
    assert fullwidth != code
    with pytest.raises(IdentifierError):
        normalise_identity_code(fullwidth, today=TODAY)


def test_codes_differing_only_by_century_sign_stay_different():
    # The check character does not cover the century sign, so both codes are valid.
    old_style = identity_code("100190", "-", "234")
    new_style = identity_code("100190", "Y", "234")
    assert old_style[-1] == new_style[-1]
    assert normalise_identity_code(old_style, today=TODAY) == old_style
    assert normalise_identity_code(new_style, today=TODAY) == new_style
    assert old_style != new_style
    # Same birth date, yet the masked forms still tell the two people apart.
    assert birth_date_of(old_style) == birth_date_of(new_style)
    assert mask_identity_code(old_style) != mask_identity_code(new_style)


def test_error_messages_never_quote_the_code():
    for bad in (
        wrong_check(identity_code("150683", "-", "234")),
        identity_code("310299", "-", "234"),
        identity_code("010130", "A", "234"),
    ):
        with pytest.raises(IdentifierError) as caught:
            normalise_identity_code(bad, today=TODAY)
        assert bad not in str(caught.value)
        assert bad[:6] not in str(caught.value)


def test_mask_keeps_birth_date_and_century_sign_only():
    code = identity_code("150683", "-", "234")
    assert mask_identity_code(code) == "150683-****"
    assert code[7:] not in mask_identity_code(code)


# --- phones --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("040 123 4567", "+358401234567"),
        ("0401234567", "+358401234567"),
        ("+358 40 123 4567", "+358401234567"),
        ("+358401234567", "+358401234567"),
        ("  050-123 4567 ", "+358501234567"),
        ("09 1234 567", "+35891234567"),
    ],
)
def test_finnish_phone_numbers_normalise_to_e164(raw, e164):
    assert normalise_phone(raw) == e164


@pytest.mark.parametrize("raw", ["123", "040", "0000000000", "not a number", "+358 12"])
def test_invalid_phone_numbers_are_rejected(raw):
    with pytest.raises(IdentifierError):
        normalise_phone(raw)


def test_too_long_phone_number_is_rejected():
    with pytest.raises(IdentifierError, match="too long"):
        normalise_phone("040 123 4567" + " 1" * 20)


def test_empty_phone_is_rejected():
    with pytest.raises(IdentifierError, match="empty"):
        normalise_phone("   ")


def test_phone_display_format():
    assert format_phone("+358401234567") == "+358 40 1234567"


# --- emails --------------------------------------------------------------------------------


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to resolve or connect fails the test."""

    def refuse(*_args, **_kwargs):
        raise AssertionError("email validation must not touch the network")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_email_is_trimmed_and_lower_cased(no_network):
    assert normalise_email("  Matti.Meikalainen@Example.FI ") == "matti.meikalainen@example.fi"


def test_email_domain_is_not_looked_up(no_network):
    # A domain that does not exist is fine: deliverability is not checked.
    assert normalise_email("someone@no-such-domain-for-cs-register.fi").endswith(".fi")


@pytest.mark.parametrize(
    "raw", ["matti", "matti@", "@example.fi", "matti@@example.fi", "matti example@x.fi", "a@b"]
)
def test_invalid_emails_are_rejected(raw, no_network):
    with pytest.raises(IdentifierError, match="not valid"):
        normalise_email(raw)


def test_too_long_email_is_rejected(no_network):
    with pytest.raises(IdentifierError, match="too long"):
        normalise_email("a" * 250 + "@x.fi")


# --- names and free text -------------------------------------------------------------------


def test_decomposed_input_is_stored_composed():
    decomposed = unicodedata.normalize("NFD", "Äijälä")
    assert len(decomposed) == 9
    result = normalise_text(decomposed, label="Family name", max_length=100)
    assert result == "Äijälä"
    assert len(result) == 6


def test_whitespace_is_collapsed():
    assert normalise_text("  Anna \t Maria  ", label="Given names", max_length=100) == "Anna Maria"


@pytest.mark.parametrize("bad", ["Matti\x00", "Ma\x07tti", "Matti\u200b", "Matti\u202e", "\x7fX"])
def test_control_and_format_characters_are_rejected(bad):
    with pytest.raises(IdentifierError, match="not allowed"):
        normalise_text(bad, label="Given names", max_length=100)


def test_length_limit_counts_characters_after_normalisation():
    composed = "ä" * 100
    decomposed = unicodedata.normalize("NFD", composed)  # 200 code points before NFC
    assert normalise_text(decomposed, label="Family name", max_length=100) == composed
    with pytest.raises(IdentifierError, match="at most 100"):
        normalise_text("a" * 101, label="Family name", max_length=100)


def test_required_text_must_not_be_blank():
    with pytest.raises(IdentifierError, match="required"):
        normalise_text("   ", label="Family name", max_length=100)
    assert normalise_text("", label="City", max_length=100, required=False) == ""


def test_search_key_folds_case_and_accents():
    assert search_key("Äijälä") == "aijala"
    assert search_key(unicodedata.normalize("NFD", "ÄIJÄLÄ")) == "aijala"
    assert search_key("  Åsa   Öberg ") == "asa oberg"


# --- postal codes --------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [("00100", "00100"), (" 00 100 ", "00100")])
def test_finnish_postal_code_is_five_digits(raw, expected):
    assert normalise_postal_code(raw, country="FI") == expected


@pytest.mark.parametrize("raw", ["0010", "001000", "O0100", "00-10", "", "\uff10" * 5])
def test_other_finnish_postal_codes_are_rejected(raw):
    with pytest.raises(IdentifierError, match="five digits"):
        normalise_postal_code(raw, country="FI")


def test_foreign_postal_code_is_upper_cased():
    assert normalise_postal_code("sw1a 1aa", country="GB") == "SW1A1AA"
    for bad in ("!!", "ÅÄÖ 12", "1" * 13):
        with pytest.raises(IdentifierError):
            normalise_postal_code(bad, country="GB")


# --- all fields together -------------------------------------------------------------------


def test_validate_customer_fields_normalises_everything():
    code = identity_code("150683", "-", "234")
    fields = validate_customer_fields(
        {
            "given_names": " Matti  Tapani ",
            "family_name": unicodedata.normalize("NFD", "Äijälä"),
            "street_address": "Mannerheimintie 1 A 2",
            "postal_code": "00100",
            "city": "Helsinki",
            "country": "",
            "phone": "040 123 4567",
            "email": "Matti@Example.FI",
            "identity_code": code.lower(),
        },
        today=TODAY,
    )
    assert fields.given_names == "Matti Tapani"
    assert fields.family_name == "Äijälä"
    assert fields.country == "FI"
    assert fields.phone == "+358401234567"
    assert fields.email == "matti@example.fi"
    assert fields.identity_code == code


def test_validate_customer_fields_reports_every_problem_at_once_without_values():
    bad_code = wrong_check(identity_code("150683", "-", "234"))
    with pytest.raises(ValidationFailed) as caught:
        validate_customer_fields(
            {
                "given_names": "",
                "family_name": "x" * 101,
                "city": "Helsinki",  # an address needs street and postal code too
                "phone": "123",
                "email": "nope",
                "identity_code": bad_code,
            },
            today=TODAY,
        )
    errors = caught.value.errors
    assert set(errors) == {
        "given_names",
        "family_name",
        "street_address",
        "postal_code",
        "phone",
        "email",
        "identity_code",
    }
    assert bad_code not in repr(errors)


def test_optional_fields_left_empty_are_none():
    fields = validate_customer_fields({"given_names": "Anna", "family_name": "Aho"}, today=TODAY)
    assert (fields.phone, fields.email, fields.identity_code, fields.country) == (
        None,
        None,
        None,
        None,
    )
