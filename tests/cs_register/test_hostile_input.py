"""Inputs that once gave 500s, and the classes they stand for: numbers too long for a database
integer, digits that are not ASCII (`str.isdigit()` accepts "²" and "٣", `int()` refuses or
reads them), JSON nested deeper than Python's recursion limit, extreme timestamps, and
bodies over their cap sent chunked. Each gets a 4xx problem or the page's defaults."""

from __future__ import annotations

import json
import string

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import EnvironBuilder, run_wsgi_app

from cs_register.identifiers import whole_number
from cs_register.integrations import services as token_services
from recordings.api import MAX_JSON_BYTES
from recordings.models import Call
from tests.support.context import make_context

NUMBERS_THAT_ARE_NOT_OURS = ["1" * 24, "²", "٣", "１２", "-1", "0x10", " 7 7 ", "9" * 400]
# Digits of every script, superscripts and fractions, long runs of ASCII digits.
hostile_numbers = st.one_of(
    st.text(st.characters(categories=["Nd", "No", "Nl"]), min_size=1, max_size=30).filter(
        lambda value: not value.isascii()
    ),
    st.text(string.digits, min_size=20, max_size=60),
    st.sampled_from(NUMBERS_THAT_ARE_NOT_OURS),
)


@pytest.fixture
def tokens(database, clock):
    raw = {}
    with database.unit_of_work() as session:
        for scope in ("telephony", "marketing"):
            _, raw[scope] = token_services.create_token(
                make_context(session, None, clock.now), name=f"{scope}-probe", scope=scope
            )
    return raw


def test_whole_number_takes_ascii_digits_within_bounds_only():
    assert whole_number(" 42 ", minimum=1, maximum=100) == 42
    for raw in [*NUMBERS_THAT_ARE_NOT_OURS, "", None, "101", "0"]:
        assert whole_number(raw, minimum=1, maximum=100) is None, raw


@pytest.mark.parametrize(
    ("path", "parameter"),
    [("/recordings/purges", "before"), ("/audit", "before"), ("/statistics", "days")],
)
@pytest.mark.parametrize("value", NUMBERS_THAT_ARE_NOT_OURS)
def test_console_page_numbers_that_are_not_ours_never_crash(
    client, logged_in, path, parameter, value
):
    logged_in("dpo" if path == "/audit" else "supervisor")
    response = client.get(path, query_string={parameter: value})
    assert response.status_code in (200, 422), response.status_code
    assert "Traceback" not in response.get_data(as_text=True)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(value=hostile_numbers)
def test_the_marketing_feed_refuses_any_cursor_that_is_not_a_number_of_ours(client, tokens, value):
    for parameter in ("after", "limit"):
        response = client.get(
            "/api/v1/marketing/changes",
            query_string={parameter: value},
            headers={"Authorization": f"Bearer {tokens['marketing']}"},
        )
        assert response.status_code == 422, (parameter, value)
        assert parameter in response.get_json()["errors"]


def _post_call(client, tokens, data):
    return client.post(
        "/api/v1/calls",
        data=data,
        content_type="application/json",
        headers={"Authorization": f"Bearer {tokens['telephony']}"},
    )


@pytest.mark.parametrize("depth", [1_000, 30_000])
@pytest.mark.parametrize(("opening", "closing"), [("[", "]"), ('{"a":', "}")])
def test_deeply_nested_json_is_a_400_problem(client, tokens, depth, opening, closing):
    body = opening * depth + "1" + closing * depth
    if len(body) > MAX_JSON_BYTES:
        body = body[: MAX_JSON_BYTES // 2 // len(opening) * len(opening)] + closing
    response = _post_call(client, tokens, body)
    assert response.status_code == 400
    assert response.content_type == "application/problem+json"


@pytest.mark.parametrize(
    "started_at",
    [
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "+002026-11-23T08:00:00+00:00",
        "2026-11-23T08:00:00+24:00",
        "２０２６-11-23T08:00:00+00:00",
    ],
)
def test_extreme_timestamps_are_a_422_problem(client, tokens, started_at):
    response = client.post(
        "/api/v1/calls",
        json={
            "external_call_id": "pbx-extreme",
            "direction": "inbound",
            "customer_number": "+358401234567",
            "started_at": started_at,
        },
        headers={"Authorization": f"Bearer {tokens['telephony']}"},
    )
    assert response.status_code == 422
    assert "started_at" in response.get_json()["errors"]


def test_a_chunked_json_body_over_the_cap_is_413(app, tokens, database):
    body = json.dumps({"external_call_id": "x" * MAX_JSON_BYTES}).encode()
    environ = EnvironBuilder(
        path="/api/v1/calls",
        method="POST",
        data=body,
        headers={
            "Authorization": f"Bearer {tokens['telephony']}",
            "Content-Type": "application/json",
        },
    ).get_environ()
    # What a server hands over for `Transfer-Encoding: chunked`: no length, a terminated stream.
    del environ["CONTENT_LENGTH"]
    environ["wsgi.input_terminated"] = True
    environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    # Straight to the WSGI app: the test client would drop `wsgi.input_terminated`.
    _, status, headers = run_wsgi_app(app, environ, buffered=True)
    assert status.startswith("413")
    assert dict(headers)["Content-Type"] == "application/problem+json"
    with database.unit_of_work() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Call)) == 0
