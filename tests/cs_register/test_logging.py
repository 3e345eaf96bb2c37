"""Logs never carry personal data: our code does not log it, and the filter catches slips."""

from __future__ import annotations

import io
import json
import logging
import re
import sys

import pytest

from cs_register.logs import (
    JsonRedactingFormatter,
    RedactingFilter,
    RedactingFormatter,
    UtcRedactingFormatter,
    json_lines_wanted,
    redact,
    redact_personal_data,
    redacting_filter_for,
)

CANARY_CODE = "131052-308T"
CANARY_PHONE = "+358401234567"
CANARY_EMAIL = "kanarialintu.q7x2@example.fi"
CANARY_FAMILY_NAME = "Kanarialintu"
# Every spelling of the canaries that could end up in a message.
CANARY_SPELLINGS = (
    CANARY_CODE,
    CANARY_CODE.lower(),
    CANARY_PHONE,
    "0401234567",
    "40 1234567",
    "401234567",
    CANARY_EMAIL,
    "kanarialintu.q7x2",
    CANARY_FAMILY_NAME,
    CANARY_FAMILY_NAME.lower(),
)


# --- the filter ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"lookup {CANARY_CODE} failed", "lookup [identity-code] failed"),
        ("lower case 131052-308t too", "lower case [identity-code] too"),
        ("new signs 010594Y9032, 010501A9036", "new signs [identity-code], [identity-code]"),
        ("glued hetu_131052-308T here", "glued hetu_[identity-code] here"),
        (f"mail {CANARY_EMAIL}.", "mail [email]."),
        ("plus-address first.last+cs@mail.example.com ok", "plus-address [email] ok"),
        (f"phone {CANARY_PHONE} called", "phone [phone] called"),
        ("shown as +358 40 1234567 here", "shown as [phone] here"),
        ("foreign +46701234567", "foreign [phone]"),
        ("request 6f1c2a9e-0b7d-4e1f-9a3b-123456789012 kept", None),
        # Hex runs inside public ids can look like codes (a-f are century signs): kept whole.
        ("customer 6f1c2a9e-0b7d-4e1f-9a3b-131052a308f1 viewed", None),
        ("customer 6f1c2a9e-0b7d-4e1f-9a3b-1131052a308f viewed", None),
        ("customer 6f123456-7890-4e1f-9a3b-000000000000 viewed", None),
        ("customer 42 at 2026-11-23 09:00:00+00:00", None),
    ],
)
def test_redaction_replaces_personal_data_and_keeps_ids(text, expected):
    assert redact(text) == (text if expected is None else expected)


def test_line_breaks_are_folded_so_a_value_cannot_forge_a_log_line():
    folded = redact("name Matti\r\nFAKE LOG LINE admin logged in")
    assert folded == "name Matti\\r\\nFAKE LOG LINE admin logged in"
    assert folded.splitlines() == [folded]
    # Every other character str.splitlines() breaks on is folded too.
    for separator in "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029":
        assert len(redact(f"a{separator}b").splitlines()) == 1


def test_redact_personal_data_keeps_line_breaks_for_tracebacks():
    assert redact_personal_data(f"line one\n{CANARY_CODE}\n") == "line one\n[identity-code]\n"


def make_record(msg, *args, exc_info=None):
    return logging.LogRecord("cs_register.test", logging.INFO, __file__, 1, msg, args, exc_info)


def test_filter_formats_then_redacts_arguments():
    record = make_record("search for %s by %s", CANARY_CODE, CANARY_EMAIL)
    assert RedactingFilter().filter(record) is True
    assert record.getMessage() == "search for [identity-code] by [email]"
    assert record.args is None
    assert record.request_id == "-"


def test_filter_keeps_a_request_id_given_by_the_caller():
    record = make_record("hello")
    record.request_id = "req-12345678"
    RedactingFilter().filter(record)
    assert record.request_id == "req-12345678"


def test_filter_survives_a_broken_format_string():
    record = make_record("two args %s %s", CANARY_PHONE)
    RedactingFilter().filter(record)
    assert record.getMessage() == "two args %s %s"


def test_filter_redacts_exception_text_too():
    try:
        raise ValueError(f"Key (email)=({CANARY_EMAIL}) already exists")
    except ValueError:
        record = make_record("insert failed", exc_info=sys.exc_info())
    RedactingFilter().filter(record)
    formatted = logging.Formatter("%(message)s").format(record)
    assert CANARY_EMAIL not in formatted
    assert "Key (email)=([email]) already exists" in formatted
    assert "Traceback" in formatted


def test_a_handler_with_the_filter_writes_one_clean_line():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s [%(request_id)s] %(message)s"))
    logger = logging.getLogger("cs_register.test.handler")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("customer %s renamed to %s", CANARY_CODE, "Matti\r\nFAKE LOG LINE")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    output = stream.getvalue()
    assert output.count("\n") == 1
    assert output == "WARNING [-] customer [identity-code] renamed to Matti\\r\\nFAKE LOG LINE\n"


def test_redacting_filter_for_attaches_to_a_logger():
    logger = logging.getLogger("cs_register.test.attached")
    flt = redacting_filter_for(logger)
    try:
        assert flt in logger.filters
        record = make_record("phone %s", CANARY_PHONE)
        assert logger.filter(record)
        assert record.getMessage() == "phone [phone]"
    finally:
        logger.removeFilter(flt)


# --- our code does not log personal data in the first place ----------------------------------


def record_texts(records):
    for record in records:
        yield record.getMessage()
        if record.exc_info:
            yield logging.Formatter().formatException(record.exc_info)
        for value in vars(record).values():
            if isinstance(value, str):
                yield value


def test_a_realistic_flow_logs_no_canary(client, logged_in, login, make_staff, caplog):
    caplog.set_level(logging.DEBUG)
    logged_in("agent")
    customer_form = {
        "given_names": "Testi",
        "family_name": CANARY_FAMILY_NAME,
        "street_address": "Lintukuja 1",
        "postal_code": "00100",
        "city": "Helsinki",
        "country": "FI",
        "phone": CANARY_PHONE,
        "email": CANARY_EMAIL,
        "identity_code": CANARY_CODE,
    }
    # A rejected submit first (bad email), then the real one.
    rejected = client.post("/customers/new", data={**customer_form, "email": "not an email"})
    assert rejected.status_code == 422
    created = client.post("/customers/new", data=customer_form)
    assert created.status_code == 302
    customer_url = created.headers["Location"]
    public_id = customer_url.rstrip("/").rsplit("/", 1)[1]
    # A second customer with the same code is refused (the duplicate check decrypts candidates).
    duplicate = client.post("/customers/new", data={**customer_form, "email": ""})
    assert duplicate.status_code == 422

    searches = [
        ("identity_code", CANARY_CODE),
        ("identity_code", CANARY_CODE.lower()),
        ("phone", CANARY_PHONE),
        ("phone", "040 1234567"),
        ("email", CANARY_EMAIL.upper()),
        ("name", CANARY_FAMILY_NAME),
        ("phone", "12"),
    ]
    for kind, value in searches:
        response = client.post(
            "/customers/search", data={"kind": kind, "value": value}, follow_redirects=True
        )
        too_short = value == "12"
        assert response.status_code == (422 if too_short else 200)
        assert (public_id in response.text) is not too_short

    assert client.get(customer_url).status_code == 200
    revealed = client.post(
        f"{customer_url}/identity-code", data={"purpose": "Customer asked to confirm it"}
    )
    assert revealed.status_code == 200
    assert CANARY_CODE in revealed.text
    edited = client.post(
        f"{customer_url}/edit",
        data={
            **customer_form,
            "identity_code": "",
            "city": "Espoo",
            "postal_code": "02100",
            "reason": "Customer moved",
        },
    )
    assert edited.status_code == 302
    assert client.get(f"{customer_url}/history").status_code == 200
    contact = client.post(
        "/contacts/new",
        data={
            "customer": public_id,
            "channel": "phone",
            "direction": "inbound",
            "occurred_at": "",
            "subject": "Address change",
            "notes": "Customer called about an address change.",
            "verification_outcome": "verified",
            "verify_identity_code": "on",
        },
    )
    assert contact.status_code == 302
    assert client.get(contact.headers["Location"]).status_code == 200
    # A denied page logs a warning: it names the user and permission, nothing else.
    assert client.get("/audit").status_code == 403

    supervisor = make_staff("supervisor")
    login(client, supervisor)
    assert client.get("/audit", query_string={"subject": public_id}).status_code == 200
    assert client.get("/audit", query_string={"subject": CANARY_CODE}).status_code == 422

    texts = list(record_texts(caplog.records))
    # The flow did log (audit lines, the permission warning), so the check below means something.
    assert any("audit identity_code_revealed" in text for text in texts)
    assert any("permission denied" in text for text in texts)
    leaks = [
        (spelling, text) for text in texts for spelling in CANARY_SPELLINGS if spelling in text
    ]
    assert leaks == []


def test_the_search_value_is_not_in_the_url_or_logged(client, logged_in, caplog):
    caplog.set_level(logging.DEBUG)
    logged_in("agent")
    response = client.post(
        "/customers/search",
        data={"kind": "identity_code", "value": CANARY_CODE},
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert CANARY_CODE not in response.request.url
    # Searches by identity code do not echo the code back into the page either.
    assert CANARY_CODE not in response.text
    assert not [t for t in record_texts(caplog.records) if re.search(CANARY_CODE, t)]


def test_the_configured_handler_redacts_without_altering_the_record_for_other_handlers():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter("%(message)s"))
    record = logging.LogRecord(
        "probe", logging.INFO, __file__, 1, "lookup %s", ("131052-308T",), None
    )
    handler.handle(record)
    assert stream.getvalue().strip() == "lookup [identity-code]"
    # Another handler (e.g. a test's capture) still sees exactly what was logged.
    assert record.getMessage() == "lookup 131052-308T"


def test_json_lines_are_redacted_and_carry_the_request_id():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonRedactingFormatter())
    record = logging.LogRecord(
        "cs_register.probe",
        logging.WARNING,
        __file__,
        1,
        "lookup %s\nforged",
        ("131052-308T",),
        None,
    )
    record.request_id = "abcdef012345"
    handler.handle(record)
    (line,) = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["message"] == "lookup [identity-code]\\nforged"
    assert (entry["level"], entry["logger"], entry["request_id"]) == (
        "WARNING",
        "cs_register.probe",
        "abcdef012345",
    )
    assert entry["time"].endswith("+00:00")
    assert "131052" not in line


def test_log_format_json_is_asked_for_in_the_environment():
    assert json_lines_wanted({"LOG_FORMAT": "JSON"})
    assert not json_lines_wanted({"LOG_FORMAT": "text"})
    assert not json_lines_wanted({})


def test_text_lines_are_stamped_in_utc_with_the_offset():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(UtcRedactingFormatter("%(asctime)s %(message)s"))
    record = logging.LogRecord("probe", logging.INFO, __file__, 1, "tick", (), None)
    record.created = 1795000000.25  # 2026-11-18T11:06:40.250 UTC
    record.msecs = 250
    handler.handle(record)
    assert stream.getvalue().strip() == "2026-11-18T11:06:40.250+00:00 tick"
