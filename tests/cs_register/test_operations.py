"""Operations: liveness and readiness for load balancers, and Prometheus metrics behind their
own token, with counts only (no personal data)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app import create_app
from cs_register.contacts.incoming import record_incoming_contact
from cs_register.contacts.models import Channel, Direction
from cs_register.health import add_readiness_check
from tests.support.context import make_context

METRICS_TOKEN = "m" * 40


@pytest.fixture
def monitored_app(settings, clock, database):
    return create_app(
        dataclasses.replace(settings, metrics_token=METRICS_TOKEN), clock=clock, database=database
    )


def _scrape(client, token=METRICS_TOKEN):
    return client.get("/metrics", headers={"Authorization": f"Bearer {token}"})


def _samples(response) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_liveness_needs_nothing_and_no_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readiness_checks_the_database_and_the_storage(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "storage": "ok"}


def test_readiness_fails_when_the_storage_cannot_take_files(settings, clock, database, tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the storage folder should be")
    app = create_app(
        dataclasses.replace(settings, recording_storage_path=blocked / "recordings"),
        clock=clock,
        database=database,
    )
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {
        "status": "unavailable",
        "database": "ok",
        "storage": "unreachable",
    }


def test_readiness_fails_when_the_database_is_unreachable(settings, clock, tmp_path):
    gone = f"sqlite:///{tmp_path / 'no-such-folder' / 'db.sqlite3'}"
    app = create_app(dataclasses.replace(settings, database_url=gone), clock=clock)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "unreachable"
    # Liveness does not depend on it: the process is up, a restart would not help.
    assert app.test_client().get("/healthz").status_code == 200


def test_a_registered_check_that_fails_or_raises_makes_it_unready(app, client):
    add_readiness_check(app, "redis", lambda: False)
    add_readiness_check(app, "object-store", lambda: 1 / 0 == 0)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["redis"] == "unreachable"
    assert response.get_json()["object-store"] == "unreachable"


def test_metrics_do_not_exist_without_a_token_configured(client):
    assert client.get("/metrics").status_code == 404


@pytest.mark.parametrize("token", ["", "wrong" * 8, METRICS_TOKEN[:-1]])
def test_metrics_need_their_token(monitored_app, token):
    response = _scrape(monitored_app.test_client(), token)
    assert response.status_code == 401
    assert "cs_register_" not in response.get_data(as_text=True)


def test_metrics_count_contacts_by_channel_and_what_is_overdue(monitored_app, database, clock):
    with database.unit_of_work() as session:
        ctx = make_context(session, None, clock.now)
        for minutes, channel in ((5, "email"), (10, "email"), (60 * 30, "chatbot")):
            record_incoming_contact(
                ctx,
                channel=Channel(channel),
                direction=Direction.INBOUND,
                occurred_at=clock.now - timedelta(minutes=minutes),
                subject="Kysymys +358401234567",
                notes="",
                customer_id=None,
            )
    response = _scrape(monitored_app.test_client())
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    samples = _samples(response)
    assert samples[("cs_register_contacts", (("channel", "email"),))] == 2
    assert samples[("cs_register_contacts", (("channel", "chatbot"),))] == 1
    assert samples[("cs_register_contacts_last_24h", (("channel", "email"),))] == 2
    assert samples[("cs_register_contacts_last_24h", (("channel", "chatbot"),))] == 0
    assert samples[("cs_register_recordings_overdue", ())] == 0
    assert samples[("cs_register_privacy_requests_overdue", ())] == 0
    assert samples[("cs_register_purges_total", (("reason", "retention_expired"),))] == 0
    text = response.get_data(as_text=True)
    # Counts only: the customer's number appears in no form.
    for shape in ("+358401234567", "040 123 4567", "0401234567"):
        assert shape not in text


def test_with_a_job_queue_readiness_checks_redis_and_metrics_count_its_jobs(
    settings, clock, database, tmp_path
):
    from cs_register.devstack import EmbeddedRedis
    from jobs.queue import get_queue, redis_connection

    redis = EmbeddedRedis(tmp_path / "redis")
    try:
        queued = dataclasses.replace(settings, redis_url=redis.url, metrics_token=METRICS_TOKEN)
        app = create_app(queued, clock=clock, database=database)
        client = app.test_client()
        assert client.get("/readyz").get_json()["redis"] == "ok"
        get_queue(redis_connection(redis.url), queued).enqueue(print, "queued, never run")
        samples = _samples(_scrape(client))
        assert samples[("cs_register_queue_jobs", ())] == 1
        assert samples[("cs_register_failed_jobs", ())] == 0
    finally:
        redis.stop()
    # Redis gone: not ready, but alive.
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["redis"] == "unreachable"
    assert client.get("/healthz").status_code == 200
