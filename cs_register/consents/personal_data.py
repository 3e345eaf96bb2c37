"""What the consents package holds about a person, for the personal-data registry."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register import personal_data as registry
from cs_register.consents import feed
from cs_register.consents.models import ChoiceChange, ChoiceKind, CustomerChoice
from cs_register.consents.topics import label
from cs_register.context import Context
from cs_register.db import affected_rows
from cs_register.languages import N_

DESCRIPTION = registry.SourceDescription(
    name="consents",
    title=N_("Prohibitions and consents"),
    retention=N_(
        "While the customer record is kept; a prohibition in force or a consent given keeps"
        " the record, and one that ended keeps it CONTACT_RETENTION_DAYS after it ended"
        " (consents.personal_data)."
    ),
    tables=(
        registry.claim(
            "customer_choices",
            N_("Honouring the customer's direct-marketing prohibitions and consents."),
            "customer_id",
            "topic",
            "started_at",
            "ended_at",
            "contact_id",
        ),
        registry.claim(
            "customer_choice_changes",
            N_("Telling the marketing system of each change, so it honours them too."),
            "customer_public_id",
            "topic",
            "change",
        ),
    ),
)
CHOICE = DESCRIPTION.finding_kind("customer_choices", N_("Prohibition or consent"))
CHANGE = DESCRIPTION.finding_kind(
    "customer_choice_changes", N_("Change told to the marketing system")
)


class ChoiceRecords(registry.DescribedSource, description=DESCRIPTION):
    def find(
        self, ctx: Context, subject: registry.DataSubject, earlier: Sequence[registry.Finding]
    ) -> Sequence[registry.Finding]:
        findings: list[registry.Finding] = []
        choices = ctx.session.scalars(
            sa.select(CustomerChoice)
            .where(CustomerChoice.customer_id == subject.customer_id)
            .order_by(CustomerChoice.started_at, CustomerChoice.id)
        )
        for choice in choices:
            started = N_("In force from") if choice.kind is ChoiceKind.PROHIBITION else N_("Given")
            ended = N_("Lifted") if choice.kind is ChoiceKind.PROHIBITION else N_("Withdrawn")
            fields = [
                (N_("Kind"), choice.kind.value.capitalize()),
                (N_("What"), label(choice.topic)),
                (started, choice.started_at.isoformat()),
                (N_("Told us by"), choice.started_channel.value),
            ]
            if choice.ended_at is not None and choice.ended_channel is not None:
                fields += [
                    (ended, choice.ended_at.isoformat()),
                    (N_("Ended by"), choice.ended_channel.value),
                ]
            findings.append(CHOICE.of(choice.public_id, choice.started_at, *fields))
        changes = ctx.session.scalars(
            sa.select(ChoiceChange)
            .where(ChoiceChange.customer_public_id == subject.customer_public_id)
            .order_by(ChoiceChange.id)
        )
        for change in changes:
            what = ((N_("Change"), change.change.value), (N_("What"), label(change.topic or "")))
            findings.append(
                CHANGE.of(f"customer_choice_changes:{change.id}", change.occurred_at, *what)
            )
        return findings

    def erase(
        self, ctx: Context, scope: registry.ErasureScope, tally: registry.ErasureTally
    ) -> None:
        """Contacts leaving keep the choices recorded during them (the link goes); the
        customer leaving takes their choices, and the feed tells the marketing system."""
        if scope.contact_ids:
            ctx.session.execute(
                sa.update(CustomerChoice)
                .where(CustomerChoice.contact_id.in_(scope.contact_ids))
                .values(contact_id=None)
            )
        if scope.subject is None:
            return
        choices = affected_rows(
            ctx.session,
            sa.delete(CustomerChoice).where(
                CustomerChoice.customer_id == scope.subject.customer_id
            ),
        )
        tally.count(CHOICE.category, choices)
        changes = feed.forget_customer(
            ctx.session, customer_public_id=scope.subject.customer_public_id, at=ctx.now
        )
        tally.count(CHANGE.category, changes)

    def keeps_customers(
        self, session: Session, customer_ids: Sequence[int], *, due_before: datetime
    ) -> dict[int, str]:
        """A prohibition in force or a consent given keeps the record (without it the choice
        could not be honoured); one that ended keeps it for the same period after it ended."""
        in_force = sa.select(CustomerChoice.customer_id).where(
            CustomerChoice.customer_id.in_(customer_ids), CustomerChoice.ended_at.is_(None)
        )
        kept = {
            customer_id: "a prohibition or consent is in force"
            for customer_id in session.scalars(in_force)
        }
        recently_ended = sa.select(CustomerChoice.customer_id).where(
            CustomerChoice.customer_id.in_(customer_ids), CustomerChoice.ended_at > due_before
        )
        for customer_id in session.scalars(recently_ended):
            kept.setdefault(customer_id, "a prohibition or consent ended recently")
        return kept
