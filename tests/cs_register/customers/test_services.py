"""Customer services against a real database: validation, encryption, search, audit."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import sqlalchemy as sa

from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.contacts.models import (
    Channel,
    Contact,
    Direction,
    IdentityVerification,
    VerificationOutcome,
)
from cs_register.contacts.services import customer_timeline
from cs_register.crypto import DecryptionError
from cs_register.customers import rectification, search, services
from cs_register.customers.models import Customer, CustomerRevision
from cs_register.errors import NotFound, PermissionDenied, ValidationFailed
from tests.cs_register.customers.conftest import identity_code

CODE = identity_code("150683", "-", "234")
SIBLING_CODE = identity_code("150683", "Y", "234")  # differs only by the century sign
OTHER_CODE = identity_code("020295", "-", "456")


def audit_rows(db_session, action):
    return db_session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    ).all()


def revisions_of(db_session, customer):
    return db_session.scalars(
        sa.select(CustomerRevision)
        .where(CustomerRevision.customer_id == customer.id)
        .order_by(CustomerRevision.id)
    ).all()


# --- create --------------------------------------------------------------------------------


def test_create_stores_normalised_fields_and_encrypts_the_code(call, db_session, keyring, agent):
    customer = call(
        services.create_customer,
        form={
            "given_names": " Matti ",
            "family_name": "Äijälä",
            "street_address": "Mannerheimintie 1",
            "postal_code": "00100",
            "city": "Helsinki",
            "phone": "040 123 4567",
            "email": "Matti@Example.FI",
            "identity_code": CODE.lower(),
        },
    )
    stored = db_session.scalar(sa.select(Customer).where(Customer.public_id == customer.public_id))
    assert (stored.given_names, stored.family_name) == ("Matti", "Äijälä")
    assert (stored.phone_e164, stored.email, stored.country) == (
        "+358401234567",
        "matti@example.fi",
        "FI",
    )
    assert stored.name_key_family_first == "aijala matti"
    assert stored.name_key_given_first == "matti aijala"
    assert stored.created_by_id == agent.id
    assert CODE.encode() not in stored.identity_code_ciphertext
    assert (
        keyring.identity_code.decrypt(stored.identity_code_ciphertext, row_id=stored.public_id)
        == CODE
    )
    assert stored.identity_code_index == keyring.identity_code.blind_index(CODE)

    (event,) = audit_rows(db_session, AuditAction.CUSTOMER_CREATED)
    assert event.subject_id == customer.public_id
    assert event.actor_id == agent.id
    assert event.details == {
        "fields": [
            "given_names",
            "family_name",
            "street_address",
            "postal_code",
            "city",
            "country",
            "phone",
            "email",
            "identity_code",
        ]
    }


def test_create_without_optional_fields_lists_only_the_names(call, db_session):
    customer = call(services.create_customer, form={"given_names": "Anna", "family_name": "Aho"})
    assert customer.identity_code_ciphertext is None
    assert customer.identity_code_index is None
    (event,) = audit_rows(db_session, AuditAction.CUSTOMER_CREATED)
    assert event.details == {"fields": ["given_names", "family_name"]}


def test_duplicate_identity_code_is_refused_without_quoting_it(call, db_session):
    call(
        services.create_customer,
        form={"given_names": "A", "family_name": "B", "identity_code": CODE},
    )
    with pytest.raises(ValidationFailed) as caught:
        call(
            services.create_customer,
            form={"given_names": "C", "family_name": "D", "identity_code": f" {CODE.lower()} "},
        )
    assert list(caught.value.errors) == ["identity_code"]
    assert "already" in caught.value.errors["identity_code"][0]
    assert CODE not in repr(caught.value.errors)
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 1
    assert len(audit_rows(db_session, AuditAction.CUSTOMER_CREATED)) == 1


def test_code_differing_only_by_century_sign_is_another_person(call, db_session):
    call(
        services.create_customer,
        form={"given_names": "A", "family_name": "B", "identity_code": CODE},
    )
    call(
        services.create_customer,
        form={"given_names": "C", "family_name": "D", "identity_code": SIBLING_CODE},
    )
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 2


def test_duplicate_check_compares_exactly_within_a_shared_bucket(call, db_session, keyring):
    """Force another customer into the same blind-index bucket: not a duplicate."""
    first = call(
        services.create_customer,
        form={"given_names": "A", "family_name": "B", "identity_code": OTHER_CODE},
    )
    row = db_session.scalar(sa.select(Customer).where(Customer.public_id == first.public_id))
    row.identity_code_index = keyring.identity_code.blind_index(CODE)
    db_session.commit()
    second = call(
        services.create_customer,
        form={"given_names": "C", "family_name": "D", "identity_code": CODE},
    )
    found = call(search.search_customers, kind="identity_code", value=CODE)
    assert [c.public_id for c in found] == [second.public_id]


def test_identity_code_in_a_clear_text_field_is_refused(call):
    with pytest.raises(ValidationFailed) as caught:
        call(
            services.create_customer,
            form={
                "given_names": "Anna",
                "family_name": "Aho",
                "street_address": f"Katu 1 {CODE}",
                "postal_code": "00100",
                "city": "Helsinki",
            },
        )
    assert list(caught.value.errors) == ["street_address"]


def test_create_validates_every_field(call, db_session):
    with pytest.raises(ValidationFailed) as caught:
        call(
            services.create_customer,
            form={
                "given_names": "",
                "family_name": "Aho",
                "phone": "123",
                "identity_code": "nonsense",
            },
        )
    assert set(caught.value.errors) == {"given_names", "phone", "identity_code"}
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 0


def test_future_birth_date_uses_the_helsinki_date(call, clock):
    # 23.11.2026 22:30 UTC is already 24.11. in Helsinki: a child born that day exists.
    clock.set(clock.now.replace(hour=22, minute=30))
    born_tomorrow_utc = identity_code("241126", "A", "234")
    customer = call(
        services.create_customer,
        form={"given_names": "Vauva", "family_name": "Aho", "identity_code": born_tomorrow_utc},
    )
    assert customer.identity_code_ciphertext is not None
    with pytest.raises(ValidationFailed):
        call(
            services.create_customer,
            form={
                "given_names": "Vauva",
                "family_name": "Aho",
                "identity_code": identity_code("251126", "A", "234"),
            },
        )


def test_admin_may_not_create_or_search_customers(call, make_staff):
    admin = make_staff("admin")
    with pytest.raises(PermissionDenied):
        call(
            services.create_customer,
            as_user=admin,
            form={"given_names": "Anna", "family_name": "Aho"},
        )
    with pytest.raises(PermissionDenied):
        call(search.search_customers, as_user=admin, kind="name", value="aho")


# --- search --------------------------------------------------------------------------------


def names(customers):
    return [f"{c.given_names} {c.family_name}" for c in customers]


def test_name_search_is_a_prefix_match_insensitive_to_case_and_accents(call, make_customer):
    make_customer(given_names="Matti", family_name="Äijälä")
    make_customer(given_names="Aino", family_name="Virtanen")
    make_customer(given_names="Ville", family_name="Aijonen")
    for query in ("aij", "AIJ", "Äij", "äijälä"):
        found = call(search.search_customers, kind="name", value=query)
        assert "Matti Äijälä" in names(found), query
    # Ordered by the folded family name: "aijala" before "aijonen".
    assert names(call(search.search_customers, kind="name", value="aij")) == [
        "Matti Äijälä",
        "Ville Aijonen",
    ]
    # Either name order, and never a match in the middle of a name.
    assert names(call(search.search_customers, kind="name", value="matti ai")) == ["Matti Äijälä"]
    assert names(call(search.search_customers, kind="name", value="aino")) == ["Aino Virtanen"]
    assert call(search.search_customers, kind="name", value="jälä") == []


def test_like_wildcards_in_a_name_search_are_literal(call, make_customer):
    make_customer(given_names="Matti", family_name="Meikäläinen")
    assert names(call(search.search_customers, kind="name", value="me")) == ["Matti Meikäläinen"]
    assert call(search.search_customers, kind="name", value="m%") == []
    assert call(search.search_customers, kind="name", value="m_i") == []
    assert call(search.search_customers, kind="name", value="%%") == []


def test_name_search_returns_at_most_fifty_ordered_by_family_name(call, make_customer):
    for n in range(52):
        make_customer(given_names=f"Anna{n:02d}", family_name=f"Sukunimi{51 - n:02d}")
    found = call(search.search_customers, kind="name", value="sukunimi")
    assert len(found) == search.MAX_SEARCH_RESULTS
    assert [c.family_name for c in found] == [f"Sukunimi{n:02d}" for n in range(50)]


def test_name_search_reads_the_name_key_indexes_never_the_whole_table(
    call, make_customer, database
):
    """The plan of every statement a name search sends: a range on a name key's index, so
    the search costs the same at a million customers as at ten (docs/benchmarks.md)."""
    make_customer(given_names="Matti", family_name="Virtanen")
    statements: list[tuple[str, object]] = []

    def remember(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "FROM customers" in statement:
            statements.append((statement, parameters))

    sa.event.listen(database.engine, "before_cursor_execute", remember)
    try:
        assert names(call(search.search_customers, kind="name", value="virtanen ma")) == [
            "Matti Virtanen"
        ]
    finally:
        sa.event.remove(database.engine, "before_cursor_execute", remember)
    assert len(statements) == 2  # family name first, then given name first
    postgresql = database.engine.dialect.name == "postgresql"
    with database.engine.connect() as connection:
        if postgresql:
            # On a table this small the planner would scan anyway; forbid that, and a
            # predicate the index cannot serve still shows as a scan.
            connection.exec_driver_sql("SET enable_seqscan = off")
        for statement, parameters in statements:
            explain = "EXPLAIN " if postgresql else "EXPLAIN QUERY PLAN "
            plan = " ".join(
                str(part)
                for row in connection.exec_driver_sql(explain + statement, parameters)
                for part in row
            )
            assert "name_key" in plan, plan
            assert "Seq Scan" not in plan, plan
            assert "SCAN customers" not in plan, plan


def test_people_sharing_a_phone_are_all_returned(call, make_customer):
    make_customer(given_names="Matti", family_name="Aho", phone="040 123 4567")
    make_customer(given_names="Liisa", family_name="Aho", phone="+358401234567")
    make_customer(given_names="Other", family_name="Person", phone="050 123 4567")
    found = call(search.search_customers, kind="phone", value="0401234567")
    assert names(found) == ["Liisa Aho", "Matti Aho"]


def test_email_search_is_exact_and_case_insensitive(call, make_customer):
    make_customer(given_names="Matti", family_name="Aho", email="matti.aho@example.fi")
    make_customer(given_names="Matti", family_name="Aho", email="matti.aho2@example.fi")
    found = call(search.search_customers, kind="email", value=" Matti.Aho@EXAMPLE.fi ")
    assert [c.email for c in found] == ["matti.aho@example.fi"]


def test_identity_code_search_is_exact(call, make_customer):
    wanted = make_customer(identity_code=CODE)
    make_customer(identity_code=SIBLING_CODE)
    make_customer(identity_code=OTHER_CODE)
    found = call(search.search_customers, kind="identity_code", value=CODE.lower())
    assert [c.public_id for c in found] == [wanted.public_id]
    assert (
        call(
            search.search_customers,
            kind="identity_code",
            value=identity_code("150683", "-", "235"),
        )
        == []
    )


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("phone", "123"),
        ("email", "not-an-email"),
        ("identity_code", identity_code("310299", "-", "234")),
        ("name", "a"),
        ("name", "   "),
    ],
)
def test_invalid_search_input_names_the_field(call, db_session, kind, value):
    with pytest.raises(ValidationFailed) as caught:
        call(search.search_customers, kind=kind, value=value)
    assert list(caught.value.errors) == [kind]
    assert audit_rows(db_session, AuditAction.CUSTOMER_SEARCHED) == []


def test_unknown_search_kind_is_refused(call):
    with pytest.raises(ValidationFailed) as caught:
        call(search.search_customers, kind="public_id", value="x")
    assert list(caught.value.errors) == ["kind"]


def test_search_is_audited_with_kind_and_count_but_never_the_value(call, make_customer, db_session):
    make_customer(phone="040 123 4567", identity_code=CODE)
    make_customer(given_names="Liisa", phone="040 123 4567")
    call(search.search_customers, kind="phone", value="040 123 4567")
    call(search.search_customers, kind="identity_code", value=CODE)
    call(search.search_customers, kind="name", value="meik")
    events = audit_rows(db_session, AuditAction.CUSTOMER_SEARCHED)
    assert [event.details for event in events] == [
        {"kind": "phone", "results": 2},
        {"kind": "identity_code", "results": 1},
        {"kind": "name", "results": 2},
    ]
    assert all(event.request_id == "req-test-0001" for event in events)


# --- view ----------------------------------------------------------------------------------


def add_contact(db_session, customer, *, when, subject, outcome=None, staff_id=None):
    contact = Contact(
        channel=Channel.PHONE,
        direction=Direction.INBOUND,
        occurred_at=when,
        customer_id=customer.id,
        subject=subject,
        created_at=when,
    )
    db_session.add(contact)
    # As every way in does (console, PBX, email, chatbot): the latest contact, never rewound.
    row = db_session.get(Customer, customer.id)
    if row.last_contact_at is None or when > row.last_contact_at:
        row.last_contact_at = when
    db_session.flush()
    if outcome is not None:
        db_session.add(
            IdentityVerification(
                contact_id=contact.id,
                checked_name=True,
                checked_phone=True,
                outcome=outcome,
                verified_by_id=staff_id,
                verified_at=when,
            )
        )
    db_session.commit()
    return contact


def test_view_masks_the_code_and_lists_contacts_newest_first(
    call, make_customer, db_session, clock, agent
):
    customer = make_customer(identity_code=CODE, phone="0401234567")
    add_contact(db_session, customer, when=clock.now - timedelta(days=2), subject="Older")
    add_contact(
        db_session,
        customer,
        when=clock.now - timedelta(hours=1),
        subject="Newer",
        outcome=VerificationOutcome.VERIFIED,
        staff_id=agent.id,
    )
    view = call(services.view_customer, public_id=customer.public_id)
    assert view.masked_identity_code == "150683-****"
    assert view.phone_display == "040 1234567"
    timeline = customer_timeline(db_session, customer.id)
    assert [contact.subject for contact in timeline] == ["Newer", "Older"]
    assert [v.outcome for v in timeline[0].verifications] == [VerificationOutcome.VERIFIED]
    assert view.customer.last_contact_at == clock.now - timedelta(hours=1)
    (event,) = audit_rows(db_session, AuditAction.CUSTOMER_VIEWED)
    assert (event.subject_type, event.subject_id) == ("customer", customer.public_id)


def test_unknown_customer_is_not_found(call, db_session):
    with pytest.raises(NotFound):
        call(services.view_customer, public_id="00000000-0000-4000-8000-000000000000")
    with pytest.raises(NotFound):
        services.get_customer(db_session, "1")


# --- update --------------------------------------------------------------------------------


def edit_form(customer, **changes):
    form = {
        "given_names": customer.given_names,
        "family_name": customer.family_name,
        "street_address": customer.street_address or "",
        "postal_code": customer.postal_code or "",
        "city": customer.city or "",
        "country": customer.country or "",
        "phone": customer.phone_e164 or "",
        "email": customer.email or "",
        "identity_code": "",
    }
    form.update(changes)
    return form


def test_update_writes_one_revision_per_changed_field(
    call, make_customer, db_session, clock, agent
):
    customer = make_customer(
        street_address="Katu 1", postal_code="00100", city="Helsinki", phone="040 123 4567"
    )
    clock.advance(timedelta(days=3))
    changed = call(
        rectification.update_customer,
        public_id=customer.public_id,
        form=edit_form(customer, city="Espoo", postal_code="02100", phone="050 765 4321"),
        reason="Customer moved, told us by phone",
    )
    assert changed == ["postal_code", "city", "phone"]
    revisions = revisions_of(db_session, customer)
    assert [r.field for r in revisions] == ["postal_code", "city", "phone"]
    assert {r.reason for r in revisions} == {"Customer moved, told us by phone"}
    assert {r.changed_by_id for r in revisions} == {agent.id}
    assert {r.changed_at for r in revisions} == {clock.now}
    assert all(b"Espoo" not in (r.new_value_ciphertext or b"") for r in revisions)

    stored = db_session.scalar(sa.select(Customer).where(Customer.id == customer.id))
    assert (stored.city, stored.postal_code, stored.phone_e164) == (
        "Espoo",
        "02100",
        "+358507654321",
    )
    assert stored.updated_at == clock.now
    (event,) = audit_rows(db_session, AuditAction.CUSTOMER_UPDATED)
    assert event.details == {"fields": ["postal_code", "city", "phone"]}


def test_renaming_updates_the_search_keys(call, make_customer):
    customer = make_customer(given_names="Matti", family_name="Aho")
    call(
        rectification.update_customer,
        public_id=customer.public_id,
        form=edit_form(customer, family_name="Öhman"),
        reason="Name change after marriage",
    )
    assert names(call(search.search_customers, kind="name", value="ohm")) == ["Matti Öhman"]
    assert call(search.search_customers, kind="name", value="aho") == []


def test_update_without_changes_writes_nothing(call, make_customer, db_session):
    customer = make_customer(identity_code=CODE, phone="040 123 4567")
    # The phone typed differently is the same number; the blank code field means "keep".
    changed = call(
        rectification.update_customer,
        public_id=customer.public_id,
        form=edit_form(customer, phone="+358 40 123 4567"),
        reason="Checked",
    )
    assert changed == []
    assert revisions_of(db_session, customer) == []
    assert audit_rows(db_session, AuditAction.CUSTOMER_UPDATED) == []
    stored = db_session.get(Customer, customer.id)
    assert stored.identity_code_ciphertext == customer.identity_code_ciphertext


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("", "required"),
        ("   ", "required"),
        ("x" * 501, "at most 500"),
        (f"Was {CODE}", "identity codes"),
        ("New number 050 765 4321", "phone numbers"),
        ("Now x@example.fi", "email"),
    ],
)
def test_update_requires_a_sensible_reason(call, make_customer, db_session, reason, message):
    customer = make_customer()
    with pytest.raises(ValidationFailed) as caught:
        call(
            rectification.update_customer,
            public_id=customer.public_id,
            form=edit_form(customer, city="Espoo", street_address="Katu 2", postal_code="02100"),
            reason=reason,
        )
    assert list(caught.value.errors) == ["reason"]
    assert message in caught.value.errors["reason"][0]
    assert revisions_of(db_session, customer) == []


def test_update_reports_field_and_reason_problems_together(call, make_customer):
    customer = make_customer()
    with pytest.raises(ValidationFailed) as caught:
        call(
            rectification.update_customer,
            public_id=customer.public_id,
            form=edit_form(customer, email="bad"),
            reason="",
        )
    assert set(caught.value.errors) == {"email", "reason"}


def test_identity_code_can_be_corrected_and_cleared(call, make_customer, db_session, keyring):
    customer = make_customer(identity_code=CODE)
    changed = call(
        rectification.update_customer,
        public_id=customer.public_id,
        form=edit_form(customer, identity_code=SIBLING_CODE),
        reason="Wrong century sign typed",
    )
    assert changed == ["identity_code"]
    stored = db_session.get(Customer, customer.id)
    assert (
        keyring.identity_code.decrypt(stored.identity_code_ciphertext, row_id=customer.public_id)
        == SIBLING_CODE
    )
    assert stored.identity_code_index == keyring.identity_code.blind_index(SIBLING_CODE)
    assert [
        c.public_id for c in call(search.search_customers, kind="identity_code", value=SIBLING_CODE)
    ] == [customer.public_id]
    assert call(search.search_customers, kind="identity_code", value=CODE) == []

    changed = call(
        rectification.update_customer,
        public_id=customer.public_id,
        form=edit_form(customer, clear_identity_code="1"),
        reason="Customer asked us not to keep it",
    )
    assert changed == ["identity_code"]
    db_session.expire_all()
    stored = db_session.get(Customer, customer.id)
    assert stored.identity_code_ciphertext is None
    assert stored.identity_code_index is None
    last = revisions_of(db_session, customer)[-1]
    assert last.old_value_ciphertext is not None
    assert last.new_value_ciphertext is None


def test_correcting_to_another_customers_code_is_refused(call, make_customer, db_session):
    make_customer(given_names="Liisa", identity_code=OTHER_CODE)
    customer = make_customer(identity_code=CODE)
    with pytest.raises(ValidationFailed) as caught:
        call(
            rectification.update_customer,
            public_id=customer.public_id,
            form=edit_form(customer, identity_code=OTHER_CODE),
            reason="Typo fixed",
        )
    assert list(caught.value.errors) == ["identity_code"]
    assert revisions_of(db_session, customer) == []


# --- history -------------------------------------------------------------------------------


def test_history_decrypts_values_and_masks_identity_codes(
    call, make_customer, db_session, clock, agent
):
    customer = make_customer(phone="040 123 4567", identity_code=CODE)
    clock.advance(timedelta(hours=1))
    call(
        rectification.update_customer,
        public_id=customer.public_id,
        form=edit_form(customer, phone="", identity_code=SIBLING_CODE),
        reason="Corrected on the phone",
    )
    clock.advance(timedelta(hours=1))
    call(
        rectification.update_customer,
        public_id=customer.public_id,
        form=edit_form(customer, phone="", email="new@example.fi"),
        reason="Added email",
    )

    history = call(rectification.customer_history, public_id=customer.public_id)
    assert [(r.field, r.old_value, r.new_value, r.reason) for r in history] == [
        ("email", None, "new@example.fi", "Added email"),
        ("identity_code", "150683-****", "150683Y****", "Corrected on the phone"),
        ("phone", "+358401234567", None, "Corrected on the phone"),
    ]
    assert history[0].changed_at == clock.now
    assert agent.username in history[0].changed_by
    (event,) = audit_rows(db_session, AuditAction.CUSTOMER_HISTORY_VIEWED)
    assert event.subject_id == customer.public_id


def test_revision_values_are_bound_to_their_side_and_row(call, make_customer, db_session):
    customer = make_customer(city="Helsinki", street_address="Katu 1", postal_code="00100")
    call(
        rectification.update_customer,
        public_id=customer.public_id,
        form=edit_form(customer, city="Espoo"),
        reason="Moved",
    )
    (revision,) = revisions_of(db_session, customer)
    # Swapping old and new in the database must not silently rewrite history.
    revision.old_value_ciphertext, revision.new_value_ciphertext = (
        revision.new_value_ciphertext,
        revision.old_value_ciphertext,
    )
    db_session.commit()
    with pytest.raises(DecryptionError):
        call(rectification.customer_history, public_id=customer.public_id)


# --- reveal --------------------------------------------------------------------------------


def test_reveal_returns_the_code_and_audits_the_purpose(call, make_customer, db_session, agent):
    customer = make_customer(identity_code=CODE)
    code = call(
        services.reveal_identity_code,
        public_id=customer.public_id,
        purpose="  Contract  change needs the full code ",
    )
    assert code == CODE
    (event,) = audit_rows(db_session, AuditAction.IDENTITY_CODE_REVEALED)
    assert event.details == {"purpose": "Contract change needs the full code"}
    assert (event.actor_id, event.subject_id) == (agent.id, customer.public_id)


@pytest.mark.parametrize(
    "purpose", ["", "abc", "x" * 201, "Call back 040 123 4567", "mail matti@example.fi"]
)
def test_reveal_requires_a_stated_purpose(call, make_customer, db_session, purpose):
    customer = make_customer(identity_code=CODE)
    with pytest.raises(ValidationFailed) as caught:
        call(services.reveal_identity_code, public_id=customer.public_id, purpose=purpose)
    assert list(caught.value.errors) == ["purpose"]
    assert audit_rows(db_session, AuditAction.IDENTITY_CODE_REVEALED) == []


def test_reveal_without_a_stored_code_is_not_found(call, make_customer):
    customer = make_customer()
    with pytest.raises(NotFound, match="No identity code is stored"):
        call(services.reveal_identity_code, public_id=customer.public_id, purpose="Checking it")


def test_admin_may_not_reveal(call, make_customer, make_staff):
    customer = make_customer(identity_code=CODE)
    with pytest.raises(PermissionDenied):
        call(
            services.reveal_identity_code,
            as_user=make_staff("admin"),
            public_id=customer.public_id,
            purpose="Curiosity only",
        )


# --- the stored data -----------------------------------------------------------------------


def raw_rows(db_session, table):
    return db_session.execute(sa.text(f"SELECT * FROM {table}")).all()  # noqa: S608


def test_the_database_never_holds_the_identity_code_in_clear(
    call, make_customer, db_session, caplog
):
    caplog.set_level(logging.DEBUG)
    customer = make_customer(identity_code=CODE, phone="040 123 4567")
    call(search.search_customers, kind="identity_code", value=CODE)
    call(services.view_customer, public_id=customer.public_id)
    call(
        rectification.update_customer,
        public_id=customer.public_id,
        form=edit_form(customer, identity_code=SIBLING_CODE),
        reason="Century sign corrected",
    )
    call(
        rectification.update_customer,
        public_id=customer.public_id,
        form=edit_form(customer, identity_code=CODE),
        reason="Back to the original",
    )
    call(services.reveal_identity_code, public_id=customer.public_id, purpose="Contract check")
    call(rectification.customer_history, public_id=customer.public_id)

    needles = [CODE, SIBLING_CODE, CODE.lower(), CODE.replace("-", "")]
    checked = 0
    for table in ("customers", "customer_revisions", "audit_events"):
        rows = raw_rows(db_session, table)
        assert rows, table
        for row in rows:
            for value in row:
                checked += 1
                if isinstance(value, bytes | bytearray | memoryview):
                    blob = bytes(value)
                    assert not any(n.encode() in blob for n in needles), table
                else:
                    assert not any(n in str(value) for n in needles), table
    assert checked > 30
    assert not any(n in caplog.text for n in needles)


def test_ordinary_reference_numbers_are_fine_in_a_reason(call, make_customer, db_session):
    customer = make_customer()
    changed = call(
        rectification.update_customer,
        public_id=customer.public_id,
        form=edit_form(customer, given_names="Mattias"),
        reason="Ticket 20261123-0042, invoice 4500123456: name corrected",
    )
    assert changed == ["given_names"]
    (revision,) = revisions_of(db_session, customer)
    assert revision.reason.startswith("Ticket 20261123-0042")
