"""Prometheus metrics at `/metrics` (prometheus-client), behind their own bearer token.

Every figure is read from the database (or, for the job queue, from Redis) when the
monitoring system scrapes, so the numbers are the same whichever of several web processes
or hosts answers, and a restart loses nothing. Only counts and sums: no identifier of any
person or recording. With `METRICS_TOKEN` unset the endpoint does not exist (404).

The job queue's figures come from a source registered by `create_app`
(`add_metrics_source`), as the queue belongs to the jobs layer above this one.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy.orm import Session

from cs_register.clock import local_today
from cs_register.contacts.models import Channel, Contact
from cs_register.db import get_session
from cs_register.errors import NotFound, Unauthenticated
from cs_register.privacy.monitor import count_overdue
from cs_register.web import current_settings, now
from recordings.models import PurgeReason, PurgeReceipt, Recording, RecordingState
from recordings.sweep import count_due

blueprint = Blueprint("metrics", __name__)

_SOURCES = "cs_register.metrics_sources"
MetricsSource = Callable[[], Iterable[Metric]]


def add_metrics_source(app: Flask, source: MetricsSource) -> None:
    app.extensions.setdefault(_SOURCES, []).append(source)


def database_metrics(session: Session, *, at: datetime) -> Iterator[Metric]:
    """Contacts by channel, recordings and their bytes, purges by reason, and what is overdue."""
    stored = GaugeMetricFamily(
        "cs_register_contacts", "Contacts held now, by channel.", labels=["channel"]
    )
    recent = GaugeMetricFamily(
        "cs_register_contacts_last_24h",
        "Contacts that occurred in the last 24 hours, by channel.",
        labels=["channel"],
    )
    held = dict(
        session.execute(sa.select(Contact.channel, sa.func.count()).group_by(Contact.channel)).all()
    )
    lately = dict(
        session.execute(
            sa.select(Contact.channel, sa.func.count())
            .where(Contact.occurred_at > at - timedelta(hours=24))
            .group_by(Contact.channel)
        ).all()
    )
    for channel in Channel:
        stored.add_metric([channel.value], held.get(channel, 0))
        recent.add_metric([channel.value], lately.get(channel, 0))
    yield stored
    yield recent

    count, size = session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(Recording.size_bytes), 0)).where(
            Recording.state == RecordingState.ACTIVE
        )
    ).one()
    yield GaugeMetricFamily("cs_register_recordings", "Recordings held now.", value=count)
    yield GaugeMetricFamily(
        "cs_register_recording_bytes", "Bytes of the original recordings held now.", value=size
    )
    uploaded = session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Recording.size_bytes), 0)))
    yield CounterMetricFamily(
        "cs_register_uploaded_bytes",
        "Bytes of every recording received, purged ones included.",
        value=uploaded or 0,
    )

    purges = CounterMetricFamily(
        "cs_register_purges", "Purges proven by a receipt, by reason.", labels=["reason"]
    )
    by_reason = dict(
        session.execute(
            sa.select(PurgeReceipt.reason, sa.func.count()).group_by(PurgeReceipt.reason)
        ).all()
    )
    for reason in PurgeReason:
        purges.add_metric([reason.value], by_reason.get(reason, 0))
    yield purges

    yield GaugeMetricFamily(
        "cs_register_recordings_overdue",
        "Recordings past their due time and not yet purged (should stay 0).",
        value=count_due(session, now=at),
    )
    yield GaugeMetricFamily(
        "cs_register_privacy_requests_overdue",
        "Open data-subject requests past their due date.",
        value=count_overdue(session, today=local_today(at)),
    )


class _Collected:
    """The metrics of one scrape, for prometheus-client's registry."""

    def __init__(self, metrics: list[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield from self._metrics


def _authorised(expected: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), expected)


@blueprint.get("/metrics")
def metrics() -> Any:
    token = current_settings().metrics_token
    if token is None:
        raise NotFound("Metrics are not enabled on this deployment.")
    if not _authorised(token):
        raise Unauthenticated("Send the metrics token as 'Authorization: Bearer <token>'.")
    collected = list(database_metrics(get_session(), at=now()))
    for source in current_app.extensions.get(_SOURCES, []):
        collected.extend(source())
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collected(collected))
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
