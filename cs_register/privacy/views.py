"""The DPO's pages: data-subject requests as cases, and everything held about one person.

Agents and supervisors register a request from the customer's page; the queue and the cases
are the DPO's work (supervisors may read them). Views are thin: every rule, permission and
audit row is in `cs_register.privacy.cases`. The case page itself is rendered by
`case_page`; the customer page's panel and the overdue banner are in `web`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext

from cs_register import personal_data, tasks
from cs_register.clock import local_today
from cs_register.contacts import services as contact_services
from cs_register.contacts.models import VERIFIABLE_IDENTIFIERS
from cs_register.customers.models import Customer
from cs_register.customers.search import run_console_search
from cs_register.customers.services import get_visible_customer
from cs_register.db import get_session
from cs_register.errors import Conflict, ValidationFailed, translated
from cs_register.identifiers import IDENTIFIER_LABELS
from cs_register.languages import N_
from cs_register.permissions import Permission, has_permission
from cs_register.privacy import (
    cases,
    customer_steps,
    deadlines,
    downloads,
    erasure,
    export,
    export_data,
    relinks,
    services,
)
from cs_register.privacy.case_page import render_case_page, shown_again
from cs_register.privacy.models import RequestKind, RequestStatus
from cs_register.privacy.web import current_export_inputs, current_export_storage
from cs_register.received_via import ReceivedVia
from cs_register.web import current_staff, now, requires, staff_context

blueprint = Blueprint("privacy", __name__, template_folder="templates")

_REQUEST_FIELDS = ("kind", "channel", "received_on", "description", "reply_to")


@blueprint.get("/privacy/customers/<public_id>")
@requires(Permission.REVIEW_PERSONAL_DATA)
def everything_held(public_id: str) -> Any:
    registry = personal_data.registry()
    held = services.everything_held(staff_context(), registry, customer_public_id=public_id)
    return render_template(
        "privacy/everything_held.html",
        held=held,
        grouped=held.by_category(),
        sources=registry.describe(),
    )


# --- registering a request ----------------------------------------------------------------


def _request_form(
    customer: Customer | None, values: dict[str, Any], errors: dict[str, list[str]], status: int
) -> Any:
    return (
        render_template(
            "privacy/new_request.html",
            customer=customer,
            values=values,
            errors=errors,
            kinds=list(RequestKind),
            channels=list(ReceivedVia),
            identifiers=[(name, IDENTIFIER_LABELS[name]) for name in VERIFIABLE_IDENTIFIERS],
            today=local_today(now()),
        ),
        status,
    )


def _register(customer: Customer | None) -> Any:
    if request.method == "GET":
        return _request_form(customer, {"received_on": local_today(now()).isoformat()}, {}, 200)
    values: dict[str, Any] = {name: request.form.get(name, "") for name in _REQUEST_FIELDS}
    values["verified"] = request.form.getlist("verified")
    try:
        case = cases.register_request(
            staff_context(),
            kind=values["kind"],
            channel=values["channel"],
            received_on=values["received_on"],
            description=values["description"],
            verified=values["verified"],
            reply_to=values["reply_to"],
            customer_public_id=customer.public_id if customer is not None else None,
        )
    except ValidationFailed as failure:
        return _request_form(customer, shown_again(values), failure.errors, 422)
    flash(
        gettext(
            "%(kind)s request registered; the data-protection officer answers it by %(date)s.",
            kind=translated(case.kind.label),
            date=case.due_on.strftime("%d.%m.%Y"),
        ),
        "success",
    )
    staff = current_staff()
    if customer is not None and not (
        staff is not None and has_permission(staff, Permission.VIEW_PRIVACY_REQUESTS)
    ):
        # An agent goes back to the call; the case itself is the DPO's.
        return redirect(url_for("customers.customer_page", public_id=customer.public_id), 303)
    return redirect(url_for("privacy.case_page", public_id=case.public_id), 303)


@blueprint.route("/customers/<public_id>/privacy-requests/new", methods=["GET", "POST"])
@requires(Permission.REGISTER_PRIVACY_REQUESTS)
def new_customer_request(public_id: str) -> Any:
    return _register(get_visible_customer(staff_context(), public_id))


@blueprint.route("/privacy/requests/new", methods=["GET", "POST"])
@requires(Permission.HANDLE_PRIVACY_REQUESTS)
def new_request() -> Any:
    """A request from someone the register does not hold (answered "no data held")."""
    return _register(None)


# --- the queue and the case ---------------------------------------------------------------


@blueprint.get("/privacy/requests")
@requires(Permission.VIEW_PRIVACY_REQUESTS)
def queue() -> Any:
    kind = request.args.get("kind", "")
    status = request.args.get("status", cases.OPEN_FILTER)
    try:
        rows = cases.queue(staff_context(), kind=kind, status=status)
        errors: dict[str, list[str]] = {}
    except ValidationFailed as failure:
        rows, errors = [], failure.errors
    return render_template(
        "privacy/queue.html",
        rows=rows,
        errors=errors,
        kind=kind,
        status=status,
        kinds=list(RequestKind),
        statuses=list(RequestStatus),
        due_soon_days=deadlines.DUE_SOON_DAYS,
    ), (422 if errors else 200)


@blueprint.get("/privacy/requests/<public_id>")
@requires(Permission.VIEW_PRIVACY_REQUESTS)
def case_page(public_id: str) -> Any:
    return render_case_page(public_id)


def _step(public_id: str, fields: tuple[str, ...], step: Any, done: str) -> Any:
    """Run one step of the case with the form's fields; show the case again with errors."""
    values = {name: request.form.get(name, "") for name in fields}
    try:
        step(staff_context(), public_id=public_id, **values)
    except ValidationFailed as failure:
        return render_case_page(
            public_id, errors=failure.errors, values=shown_again(values), status=422
        )
    except Conflict as conflict:
        return render_case_page(public_id, errors={"case": [conflict.detail]}, status=409)
    flash(translated(done), "success")
    return redirect(url_for("privacy.case_page", public_id=public_id), 303)


@dataclass(frozen=True)
class _CaseStep:
    """One button on the case page: its URL, the form fields it sends, the service it runs
    and what the handler is told when it succeeds."""

    path: str
    endpoint: str
    fields: tuple[str, ...]
    service: Callable[..., object]
    done: str


_CASE_STEPS = (
    _CaseStep("start", "start_case", (), cases.start_case, N_("You now handle this request.")),
    _CaseStep(
        "extend",
        "extend_case",
        ("months", "justification", "told_on"),
        cases.extend_case,
        N_("The deadline was extended."),
    ),
    _CaseStep(
        "complete",
        "complete_case",
        ("answer",),
        cases.complete_case,
        N_("The request was completed."),
    ),
    _CaseStep(
        "refuse",
        "refuse_case",
        ("legal_reason", "answer"),
        cases.refuse_case,
        N_("The request was refused."),
    ),
    _CaseStep(
        "restrict",
        "restrict_processing",
        ("reason",),
        customer_steps.restrict_processing,
        N_("Processing is restricted: only you see this customer now."),
    ),
    _CaseStep(
        "lift-restriction",
        "lift_restriction",
        (),
        customer_steps.lift_restriction,
        N_("The restriction was lifted."),
    ),
    _CaseStep(
        "objection",
        "record_objection",
        ("objection",),
        customer_steps.record_objection,
        N_("The objection is recorded; no quality-development hold can be placed now."),
    ),
    _CaseStep(
        "withdraw-objection",
        "withdraw_objection",
        (),
        customer_steps.withdraw_objection,
        N_("The objection was withdrawn."),
    ),
)


def _case_step_view(case_step: _CaseStep) -> Callable[[str], Any]:
    def view(public_id: str) -> Any:
        return _step(public_id, case_step.fields, case_step.service, case_step.done)

    view.__name__ = case_step.endpoint
    return requires(Permission.HANDLE_PRIVACY_REQUESTS)(view)


for _case_step in _CASE_STEPS:
    blueprint.add_url_rule(
        f"/privacy/requests/<public_id>/{_case_step.path}",
        _case_step.endpoint,
        _case_step_view(_case_step),
        methods=["POST"],
    )


def _relink_page(
    public_id: str,
    contact_public_id: str,
    *,
    search: dict[str, str],
    candidates: list[contact_services.CandidateCustomer] | None = None,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
) -> Any:
    case, contact = relinks.contact_to_move(
        staff_context(), public_id=public_id, contact_public_id=contact_public_id
    )
    return render_template(
        "privacy/relink.html",
        case=case,
        contact=contact,
        kinds=contact_services.link_search_kinds(),
        search=search,
        candidates=candidates,
        errors=errors or {},
        reason=request.form.get("reason", ""),
    ), status


@blueprint.route(
    "/privacy/requests/<public_id>/contacts/<contact_public_id>/relink", methods=["GET", "POST"]
)
@requires(Permission.HANDLE_PRIVACY_REQUESTS)
def relink_contact(public_id: str, contact_public_id: str) -> Any:
    """Find the right customer for a contact linked to the case's customer by mistake."""
    try:
        if request.method == "GET":
            return _relink_page(public_id, contact_public_id, search={"kind": "phone", "value": ""})
        if request.form.get("action") == "move":
            relinks.move_contact(
                staff_context(),
                public_id=public_id,
                contact_public_id=contact_public_id,
                customer=request.form.get("customer", ""),
                reason=request.form.get("reason", ""),
            )
            flash(gettext("The contact was moved; the move is in its link history."), "success")
            return redirect(url_for("privacy.case_page", public_id=public_id), 303)
    except ValidationFailed as failure:
        search = {"kind": "phone", "value": ""}
        return _relink_page(
            public_id, contact_public_id, search=search, errors=failure.errors, status=422
        )
    except Conflict as conflict:
        return render_case_page(public_id, errors={"case": [conflict.detail]}, status=409)
    kind, value = request.form.get("kind", ""), request.form.get("value", "")
    # An identity code is never written back into the page, not even into its own input.
    search = {"kind": kind, "value": "" if kind == "identity_code" else value}
    keyring = current_export_inputs().keyring
    try:
        # Nothing was read before it in this request: the search reads outside any write
        # transaction and commits its audit row alone (`run_console_search`).
        found = run_console_search(staff_context(), keyring, kind=kind, value=value)
    except ValidationFailed as failure:
        return _relink_page(
            public_id, contact_public_id, search=search, errors=failure.errors, status=422
        )
    candidates = contact_services.describe_candidates(keyring, found)
    return _relink_page(public_id, contact_public_id, search=search, candidates=candidates)


@blueprint.post("/privacy/requests/<public_id>/erase")
@requires(Permission.HANDLE_PRIVACY_REQUESTS)
def erase_customer(public_id: str) -> Any:
    if request.form.get("confirm") != "yes":
        errors = {
            "confirm": [N_("Confirm that you checked what is held and who the requester is.")]
        }
        return render_case_page(public_id, errors=errors, status=422)
    try:
        erasure.begin_erasure(staff_context(), public_id=public_id)
    except Conflict as conflict:
        return render_case_page(public_id, errors={"case": [conflict.detail]}, status=409)
    # The case is committed as `erasing` before the worker is told; it gets only the id.
    return _hand_to_worker(
        public_id,
        tasks.ERASE_CUSTOMER,
        public_id,
        started=gettext("The erasure is under way; this page shows its outcome when it is done."),
        queued=gettext("The erasure is queued and will be carried out within a few minutes."),
    )


@blueprint.post("/privacy/requests/<public_id>/exports")
@requires(Permission.HANDLE_PRIVACY_REQUESTS)
def request_export(public_id: str) -> Any:
    language = request.form.get("language", "")
    confirmed = request.form.getlist("confirmed")
    try:
        queued = export.request_export(
            staff_context(), case_public_id=public_id, language=language, confirmed=confirmed
        )
    except ValidationFailed as failure:
        return render_case_page(public_id, errors=failure.errors, status=422)
    except Conflict as conflict:
        return render_case_page(public_id, errors={"case": [conflict.detail]}, status=409)
    # The row is committed with the request; the worker gets only its id.
    return _hand_to_worker(
        public_id,
        tasks.BUILD_PRIVACY_EXPORT,
        queued.public_id,
        started=gettext("The download is being built; this page shows its progress."),
        queued=gettext("The download is queued and will be built within a few minutes."),
    )


def _hand_to_worker(
    case_public_id: str, task: str, row_public_id: str, *, started: str, queued: str
) -> Any:
    """Commit the request's unit of work, then tell the worker (the row exists before it
    looks); if the queue is unreachable the scheduler's next run picks the row up."""
    get_session().commit()
    flash(started if tasks.submit(task, row_public_id) else queued, "success")
    return redirect(url_for("privacy.case_page", public_id=case_public_id), 303)


@blueprint.get("/privacy/exports/<public_id>/download")
@requires(Permission.HANDLE_PRIVACY_REQUESTS)
def download_export(public_id: str) -> Any:
    ready = downloads.download_export(staff_context(), export_public_id=public_id)
    storage = current_export_storage()
    key = ready.storage_key or ""
    return Response(
        storage.open(key),
        status=200,
        content_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="privacy-export-{ready.public_id}.zip"',
            "Content-Length": str(ready.size_bytes or 0),
            # Personal data: never kept in browser or proxy caches.
            "Cache-Control": "no-store",
        },
    )


@blueprint.get("/privacy/export-schema/v1.json")
@requires(Permission.HANDLE_PRIVACY_REQUESTS)
def export_schema() -> Any:
    return export_data.schema()
