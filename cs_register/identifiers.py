"""Server-side rules for the identifiers a customer is recognised by.

Each `normalise_*` function returns the canonical form or raises `IdentifierError` with a
message meant for the agent; `validate_customer_fields` collects those per field into one
`ValidationFailed`. Messages never repeat the rejected value: it may be someone's identity code.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import cast

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, ValidationError
from stdnum.fi import hetu

from cs_register.errors import ValidationFailed
from cs_register.languages import N_, Message

# DDMMYY, century sign (the 2023 reform added Y X W V U for the 1900s and B-F for the 2000s),
# individual number, check character. Checked before stdnum because stdnum's own compaction
# also removes inner spaces, and we accept only trimming and upper-casing.
# re.ASCII: without it \d also matches e.g. fullwidth digits, which stdnum's int() accepts too,
# and the same code would be stored (and blind-indexed) in two spellings.
_HETU_SHAPE = re.compile(r"\d{6}[-+A-FU-Y]\d{3}[0-9A-Y]", re.ASCII)
_POSTAL_CODE_FI = re.compile(r"\d{5}", re.ASCII)
_COUNTRY = re.compile(r"[A-Z]{2}")

MAX_NAME = 100
MAX_STREET = 200
MAX_CITY = 100
MAX_EMAIL = 254


class IdentifierError(ValueError):
    """One identifier was rejected; the message says why, without quoting the value."""

    @property
    def message(self) -> str:
        """The message as raised: a `languages.Message` keeps its values for translation,
        which `str(error)` would drop."""
        return cast(str, self.args[0])


def whole_number(raw: str | None, *, minimum: int, maximum: int) -> int | None:
    """`raw` as a whole number within [minimum, maximum], or None: ASCII digits only, since
    `str.isdigit()` also accepts superscripts and other scripts' digits that `int()` then
    refuses (or reads), and bounded, since a database integer column is."""
    text = (raw or "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(maximum)):
        return None
    value = int(text)
    return value if minimum <= value <= maximum else None


def looks_like_identity_code(raw: str) -> bool:
    """Whether `raw` has the shape of a henkilötunnus (not whether it is a valid one)."""
    return _HETU_SHAPE.fullmatch(raw.strip().upper()) is not None


def normalise_identity_code(raw: str, *, today: date) -> str:
    """Trim and upper-case a henkilötunnus and check it fully.

    The century sign is never folded: `100190-999P` and `100190Y999P` are different people.
    """
    value = raw.strip().upper()
    if not _HETU_SHAPE.fullmatch(value):
        raise IdentifierError(
            "Identity code must be a birth date DDMMYY, a century sign (+ - A-F U-Y),"
            " three digits and a check character."
        )
    try:
        hetu.validate(value)
    except InvalidChecksum:
        raise IdentifierError("Identity code check character does not match.") from None
    except InvalidComponent:
        raise IdentifierError(
            "Identity code has an impossible birth date or individual number."
        ) from None
    except (InvalidFormat, ValidationError):
        raise IdentifierError("Identity code is not in a valid format.") from None
    if birth_date_of(value) > today:
        raise IdentifierError("Identity code has a birth date in the future.")
    return value


def birth_date_of(identity_code: str) -> date:
    century = {"+": 1800, "-": 1900, "A": 2000}
    sign = identity_code[6]
    base = century.get(sign) or (1900 if sign in "YXWVU" else 2000)
    return date(base + int(identity_code[4:6]), int(identity_code[2:4]), int(identity_code[0:2]))


def mask_identity_code(identity_code: str) -> str:
    """Birth date and century sign stay readable so agents can tell people apart; the rest not."""
    return identity_code[:7] + "****"


def normalise_phone(raw: str, *, default_region: str = "FI") -> str:
    value = raw.strip()
    if not value:
        raise IdentifierError("Phone number is empty.")
    if len(value) > 32:
        raise IdentifierError("Phone number is too long.")
    try:
        parsed = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException:
        raise IdentifierError("Phone number could not be read; use e.g. 040 123 4567.") from None
    if not phonenumbers.is_valid_number(parsed):
        raise IdentifierError("Phone number is not a valid number.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def format_phone(e164: str) -> str:
    """International format for display (+358 40 1234567)."""
    parsed = phonenumbers.parse(e164, None)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def format_phone_local(e164: str) -> str:
    """How the console shows a caller: a Finnish number as it is dialled here (040 1234567),
    any other in international form (+46 70 123 45 67), so a foreign caller stands out."""
    parsed = phonenumbers.parse(e164, None)
    if phonenumbers.region_code_for_number(parsed) == "FI":
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def normalise_email(raw: str) -> str:
    value = raw.strip()
    if not value:
        raise IdentifierError("Email address is empty.")
    if len(value) > MAX_EMAIL:
        raise IdentifierError("Email address is too long.")
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        raise IdentifierError("Email address is not valid.") from None
    # Domains are case-insensitive; local parts technically are not, but every real mailbox
    # provider treats them so, and agents type them in any case.
    return result.normalized.lower()


def normalise_text(raw: str, *, label: str, max_length: int, required: bool = True) -> str:
    value = " ".join(unicodedata.normalize("NFC", raw).split())
    if not value:
        if required:
            raise IdentifierError(Message("%(label)s is required.", label=label))
        return ""
    if len(value) > max_length:
        raise IdentifierError(
            Message("%(label)s may be at most %(limit)d characters.", label=label, limit=max_length)
        )
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs") for ch in value):
        raise IdentifierError(
            Message("%(label)s contains characters that are not allowed.", label=label)
        )
    return value


def search_key(text: str) -> str:
    """Case- and accent-insensitive form for prefix search (Äijälä -> aijala)."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


def normalise_postal_code(raw: str, *, country: str) -> str:
    value = raw.strip().replace(" ", "")
    if country == "FI":
        if not _POSTAL_CODE_FI.fullmatch(value):
            raise IdentifierError("Finnish postal codes are five digits.")
        return value
    if not value or len(value) > 12 or not value.isascii() or not value.replace("-", "").isalnum():
        raise IdentifierError("Postal code is not valid.")
    return value.upper()


@dataclass(frozen=True)
class CustomerFields:
    """Validated, normalised customer data; None means 'not given'."""

    given_names: str
    family_name: str
    street_address: str | None
    postal_code: str | None
    city: str | None
    country: str | None
    phone: str | None
    email: str | None
    identity_code: str | None


def validate_customer_fields(form: Mapping[str, str | None], *, today: date) -> CustomerFields:
    """Validate every customer field at once so the agent sees all problems together."""
    errors: dict[str, list[str]] = {}

    def get(name: str) -> str:
        return (form.get(name) or "").strip()

    def check(name: str, func: Callable[[], str]) -> str | None:
        try:
            return func()
        except IdentifierError as exc:
            errors.setdefault(name, []).append(exc.message)
            return None

    given = check(
        "given_names",
        lambda: normalise_text(get("given_names"), label=N_("Given names"), max_length=MAX_NAME),
    )
    family = check(
        "family_name",
        lambda: normalise_text(get("family_name"), label=N_("Family name"), max_length=MAX_NAME),
    )
    country_raw = get("country").upper() or None
    has_address = any(get(name) for name in ("street_address", "postal_code", "city"))
    street = postal = city = country = None
    if has_address:
        country = country_raw or "FI"
        if not _COUNTRY.fullmatch(country):
            errors["country"] = ["Country must be a two-letter code such as FI."]
        street = check(
            "street_address",
            lambda: normalise_text(
                get("street_address"), label=N_("Street address"), max_length=MAX_STREET
            ),
        )
        postal = check(
            "postal_code",
            lambda: normalise_postal_code(get("postal_code"), country=country or "FI"),
        )
        city = check(
            "city", lambda: normalise_text(get("city"), label=N_("City"), max_length=MAX_CITY)
        )
    phone = check("phone", lambda: normalise_phone(get("phone"))) if get("phone") else None
    email = check("email", lambda: normalise_email(get("email"))) if get("email") else None
    code = (
        check("identity_code", lambda: normalise_identity_code(get("identity_code"), today=today))
        if get("identity_code")
        else None
    )
    # Both names are required, so when they are None an error has been recorded above.
    if errors or given is None or family is None:
        raise ValidationFailed(errors)
    return CustomerFields(
        given_names=given,
        family_name=family,
        street_address=street,
        postal_code=postal,
        city=city,
        country=country,
        phone=phone,
        email=email,
        identity_code=code,
    )


# What the console calls each identifier, wherever it offers or lists them.
IDENTIFIER_LABELS = {
    "name": N_("Name"),
    "email": N_("Email"),
    "phone": N_("Phone"),
    "identity_code": N_("Identity code"),
    "address": N_("Address"),
}
