"""cs-register application factory.

`flask --app app run` (or any `flask --app app ...` command) calls `create_app()` with settings
from the environment. `python app.py` starts the whole development stack: migrations, demo
staff accounts on an empty database, an embedded Redis server, an RQ worker, the RQ cron
scheduler and the web console on http://127.0.0.1:5000.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from cs_register.config import Settings
from cs_register.db import Database, utcnow

PROJECT_ROOT = Path(__file__).resolve().parent


def create_app(
    config: Settings | None = None,
    *,
    clock: Callable[[], datetime] = utcnow,
    database: Database | None = None,
) -> Flask:
    """Build the web application for `config` (default: read from the environment)."""
    from cs_register import cli, db, errors, health, i18n, logs, metrics, openapi, runtime, web
    from cs_register.audit.views import blueprint as audit_blueprint
    from cs_register.consents.api import blueprint as marketing_api
    from cs_register.consents.views import blueprint as consents_blueprint
    from cs_register.contacts.views import blueprint as contacts_blueprint
    from cs_register.customers.views import blueprint as customers_blueprint
    from cs_register.intake.api import blueprint as intake_api
    from cs_register.intake.views import blueprint as intake_blueprint
    from cs_register.integrations.views import blueprint as integrations_blueprint
    from cs_register.privacy.views import blueprint as privacy_blueprint
    from cs_register.staff import login as staff_login
    from cs_register.staff.admin_views import admin_blueprint
    from cs_register.staff.views import auth_blueprint
    from cs_register.statistics.views import blueprint as statistics_blueprint
    from recordings.api import blueprint as telephony_api
    from recordings.call_views import blueprint as calls_blueprint
    from recordings.reconcile import clear_abandoned_uploads
    from recordings.views import blueprint as recordings_blueprint

    settings = config or Settings.from_env(instance_path=PROJECT_ROOT / "instance")
    if not settings.testing:
        logs.configure_logging()
    settings.instance_path.mkdir(parents=True, exist_ok=True)

    app = Flask(
        "cs_register",
        instance_path=str(settings.instance_path),
        root_path=str(PROJECT_ROOT / "cs_register"),
    )
    app.config.update(
        SECRET_KEY=settings.secret_key,
        TESTING=settings.testing,
        MAX_CONTENT_LENGTH=settings.max_upload_bytes,
        SESSION_COOKIE_NAME="__Host-cs_session" if settings.cookie_secure else "cs_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        SESSION_COOKIE_SAMESITE="Lax",
        # Browser-side expiry is a courtesy; the server-side session row is what counts.
        PERMANENT_SESSION_LIFETIME=settings.session_absolute_lifetime,
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_SSL_STRICT=settings.cookie_secure,
    )
    app.config.update(settings.extra)
    if settings.proxy_hops:
        # The login throttle counts by source address: behind a load balancer that must be
        # the client's, taken from the hops we trust and no further.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops
        )
    built = runtime.build_runtime(settings, clock=clock)
    runtime.install(app, built)
    # A process killed mid-upload (kill -9, a crash) leaves its staging file behind: each
    # process clears what is older than any upload may take when it starts.
    clear_abandoned_uploads(built.storage, now=clock())

    db.init_app(app, database or Database(settings.database_url))
    csrf = CSRFProtect(app)
    # Integrations authenticate every API request with a bearer token, not a cookie, so a
    # forged cross-site request has nothing to ride on.
    csrf.exempt(telephony_api)
    # Signed webhooks (intake API) authenticate every request by signature or token instead.
    csrf.exempt(intake_api)
    csrf.exempt(marketing_api)
    web.init_app(app)
    i18n.init_app(app)
    staff_login.init_app(app)
    errors.init_app(app)
    for blueprint in (
        health.blueprint,
        auth_blueprint,
        admin_blueprint,
        customers_blueprint,
        contacts_blueprint,
        audit_blueprint,
        integrations_blueprint,
        recordings_blueprint,
        calls_blueprint,
        telephony_api,
        intake_blueprint,
        intake_api,
        privacy_blueprint,
        consents_blueprint,
        statistics_blueprint,
        marketing_api,
        openapi.blueprint,
        metrics.blueprint,
    ):
        app.register_blueprint(blueprint)
    _wire_page_seams(app)
    _register_personal_data(app)
    _before_sweeps(app)
    _install_tasks(app, settings)
    cli.init_app(app)
    return app


def _wire_page_seams(app: Flask) -> None:
    """Which package shows what on another package's page (see `cs_register.pages`)."""
    from cs_register import pages
    from cs_register.consents import views as consents_views
    from cs_register.contacts import queue_views
    from cs_register.contacts import views as contacts_views
    from cs_register.intake import contact_origins as intake_origins
    from cs_register.intake import views as intake_views
    from cs_register.privacy import web as privacy_web
    from recordings import call_panel
    from recordings import contact_origins as call_origins
    from recordings import web as recordings_web

    pages.set_renderer(app, pages.CONTACT_PAGE, contacts_views.render_contact_page)
    # Each seam's providers, in the order its page shows them.
    providers: dict[str, tuple[Callable[..., object], ...]] = {
        pages.CONTACT_PAGE_PANELS: (
            recordings_web.contact_page_panel,
            intake_views.contact_page_panel,
        ),
        pages.CUSTOMER_PAGE_PANELS: (
            # The agent's call first: the screen pop's customer link lands on it.
            call_panel.customer_page_panel,
            # The contacts waiting for this customer, above their history: right after a
            # customer is created or their phone or email corrected, linking those is what the
            # agent does.
            queue_views.customer_offer_panel,
            contacts_views.customer_timeline_panel,
            consents_views.customer_page_panel,
            privacy_web.customer_page_panel,
        ),
        pages.CONTACT_TIMELINE_NOTES: (recordings_web.timeline_notes,),
        pages.CONTACT_ORIGINS: (call_origins.contact_origins, intake_origins.contact_origins),
        pages.CONTACTS_FROM: (call_origins.contacts_from, intake_origins.contacts_from),
    }
    for seam, seam_providers in providers.items():
        for provider in seam_providers:
            pages.provide(app, seam, provider)
    # base.html's banner of overdue privacy requests, on every page the DPO sees.
    app.context_processor(privacy_web.overdue_requests_banner)
    _wire_audit_names(app)


def _wire_audit_names(app: Flask) -> None:
    """Who names the audit trail's subjects and staff (see `cs_register.audit.naming`)."""
    from cs_register.audit import naming
    from cs_register.contacts.audit_names import contact_names
    from cs_register.customers.audit_names import customer_names
    from cs_register.privacy.audit_names import privacy_request_names
    from cs_register.staff import audit_names as staff_audit_names
    from recordings.audit_names import call_names, recording_names

    naming.provide_staff_names(app, staff_audit_names.staff_names)
    naming.provide_subject_names(app, customer_names)
    naming.provide_subject_names(app, contact_names)
    naming.provide_subject_names(app, recording_names)
    naming.provide_subject_names(app, call_names)
    naming.provide_subject_names(app, privacy_request_names)
    naming.provide_subject_names(app, staff_audit_names.staff_subject_names)


def _before_sweeps(app: Flask) -> None:
    """`flask retention sweep` counts the statistics first and drops the marketing feed's old
    removal notices, as the retention job does."""
    from cs_register.consents.feed import remove_old_notices
    from cs_register.statistics.rollup import roll_up
    from recordings.cli import BEFORE_SWEEP

    def drop_old_notices(database: Database, now: datetime) -> None:
        with database.unit_of_work() as session:
            remove_old_notices(session, now=now)

    app.extensions[BEFORE_SWEEP] = [
        lambda database, now: roll_up(database, now=now),
        drop_old_notices,
    ]


def _install_tasks(app: Flask, settings: Settings) -> None:
    """What views may hand to the workers (`cs_register.tasks`); without Redis the periodic
    jobs pick the work up from the database."""
    if settings.redis_url is None:
        return
    from cs_register import tasks
    from jobs.keys import KEY_ROTATION
    from jobs.privacy import ERASURE, PRIVACY_EXPORT
    from jobs.queue import RecordJob, get_queue, redis_connection

    connection = redis_connection(settings.redis_url)

    def enqueuer(job: RecordJob) -> Callable[[str], object]:
        return lambda public_id: job.enqueue(get_queue(connection, settings), public_id)

    tasks.install(app, tasks.BUILD_PRIVACY_EXPORT, enqueuer(PRIVACY_EXPORT))
    tasks.install(app, tasks.ERASE_CUSTOMER, enqueuer(ERASURE))
    tasks.install(app, tasks.ROTATE_KEYS, enqueuer(KEY_ROTATION))
    from cs_register.health import add_readiness_check
    from cs_register.metrics import add_metrics_source
    from jobs.queue import queue_metrics

    add_readiness_check(app, "redis", lambda: bool(connection.ping()))
    add_metrics_source(app, lambda: queue_metrics(get_queue(connection, settings)))


def _register_personal_data(app: Flask) -> None:
    """Every package that holds personal data (see `cs_register.sources`)."""
    from cs_register import personal_data, runtime, sources

    personal_data.install(app, sources.build_registry(runtime.current_runtime(app)))


if __name__ == "__main__":
    from cs_register.devstack import main

    raise SystemExit(main())
