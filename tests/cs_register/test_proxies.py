"""Behind a load balancer the client's address is the one the trusted proxy saw: the login
throttle and the sign-in records count clients, not the load balancer, and a client's own
X-Forwarded-For is never believed."""

from __future__ import annotations

import dataclasses

import pytest
import sqlalchemy as sa

from app import create_app
from cs_register.staff.models import StaffSignIn

LOAD_BALANCER = "10.0.0.2"


def _app(settings, clock, database, hops):
    return create_app(
        dataclasses.replace(settings, proxy_hops=hops), clock=clock, database=database
    )


def _attempt(client, forwarded_for):
    return client.post(
        "/login",
        data={"username": "nobody-here", "password": "wrong password!"},
        environ_base={"REMOTE_ADDR": LOAD_BALANCER},
        headers={"X-Forwarded-For": forwarded_for},
    )


def _addresses(database):
    with database.unit_of_work() as session:
        return list(session.scalars(sa.select(StaffSignIn.source_address).order_by(StaffSignIn.id)))


def test_behind_one_proxy_the_client_is_the_address_it_saw(settings, clock, database):
    client = _app(settings, clock, database, hops=1).test_client()
    # A client that claims an address of its own: the proxy appends the real one.
    _attempt(client, "198.51.100.9, 203.0.113.7")
    assert _addresses(database) == ["203.0.113.7"]


def test_one_clients_failures_do_not_hold_another_back(settings, clock, database):
    client = _app(settings, clock, database, hops=1).test_client()
    # Five wrong passwords for one account from one address, then that address waits.
    for _ in range(5):
        assert _attempt(client, "203.0.113.7").status_code == 401
    assert _attempt(client, "203.0.113.7").status_code == 429
    assert _attempt(client, "203.0.113.8").status_code == 401


@pytest.mark.parametrize("forged", ["203.0.113.7", "127.0.0.1"])
def test_without_proxies_a_forwarded_header_is_ignored(settings, clock, database, forged):
    client = _app(settings, clock, database, hops=0).test_client()
    _attempt(client, forged)
    assert _addresses(database) == [LOAD_BALANCER]
