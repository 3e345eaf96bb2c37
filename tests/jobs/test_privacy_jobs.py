"""The data-subject export's jobs on a real Redis and database: the build a view asks for,
and the periodic run that builds what waits and deletes what has expired."""

from __future__ import annotations

import json
import zipfile
import zlib
from datetime import timedelta

import sqlalchemy as sa
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from cs_register.crypto import Keyring
from cs_register.customers import services as customer_services
from cs_register.db import utcnow
from cs_register.privacy import cases, export
from cs_register.privacy.models import ExportStatus, PrivacyExport
from cs_register.staff.models import StaffUser
from jobs.privacy import PRIVACY_EXPORT, privacy_exports_job
from jobs.queue import get_queue
from tests.support.context import make_context


def queue_export(database, settings, dpo):
    """A customer, an access request and a queued export, as the DPO's console leaves them."""
    keyring = Keyring(
        encryption_key=settings.data_encryption_key, index_key=settings.blind_index_key
    )
    now = utcnow()
    with database.unit_of_work() as session:
        ctx = make_context(session, session.get(StaffUser, dpo.id), now)
        customer = customer_services.create_customer(
            ctx,
            keyring,
            form={
                "given_names": "Maija",
                "family_name": "Mallikas",
                "identity_code": "131052-308T",
            },
        )
        case = cases.register_request(
            ctx,
            kind="access",
            channel="email",
            received_on=now.date().isoformat(),
            description="A copy of my data, please.",
            customer_public_id=customer.public_id,
        )
        return export.request_export(ctx, case_public_id=case.public_id, language="en").public_id


def test_the_queued_build_runs_on_a_worker_with_the_id_alone(job_env, redis, database, make_staff):
    public_id = queue_export(database, job_env, make_staff("dpo"))
    job_queue = get_queue(redis, job_env)
    job = PRIVACY_EXPORT.enqueue(job_queue, public_id)
    payload = json.loads(zlib.decompress(redis.hget(f"rq:job:{job.id}", "data")))
    assert payload[2] == [public_id]  # the export's id, nothing about the person
    SimpleWorker([job_queue.queue], connection=redis, serializer=JSONSerializer).work(burst=True)
    job.refresh()
    assert job.return_value() == {"built": 1}
    with database.session_factory() as session:
        row = session.scalars(sa.select(PrivacyExport)).one()
    assert row.status is ExportStatus.READY
    path = job_env.export_root / row.storage_key
    data = json.loads(zipfile.ZipFile(path).read("data.json"))
    assert data["customer"]["identity_code"] == "131052-308T"


def test_the_periodic_run_builds_what_waits_and_deletes_what_expired(job_env, database, make_staff):
    public_id = queue_export(database, job_env, make_staff("dpo"))
    assert privacy_exports_job("20261123T1000") == {"built": 1, "failed": 0, "deleted": 0}
    assert privacy_exports_job("20261123T1005") == {"built": 0, "failed": 0, "deleted": 0}
    with database.unit_of_work() as session:
        row = session.scalars(sa.select(PrivacyExport)).one()
        key = row.storage_key
        # Seven days on: the file is past its time.
        row.expires_at = utcnow() - timedelta(seconds=1)
    assert (job_env.export_root / key).is_file()
    assert privacy_exports_job("20261130T1000") == {"built": 0, "failed": 0, "deleted": 1}
    assert not (job_env.export_root / key).exists()
    with database.session_factory() as session:
        row = session.scalars(sa.select(PrivacyExport)).one()
    assert (row.public_id, row.status) == (public_id, ExportStatus.DELETED)
