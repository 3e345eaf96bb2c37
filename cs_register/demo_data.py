"""`flask seed-demo-data`: a living console for a newcomer (development only).

Fills the register with synthetic customers (`cs_register.demo_synthetic`) and their contacts
from all three channels, through the same services the integrations use, so everything is
validated, encrypted and audited exactly as real data would be:

- customers through `customers.services.create_customer`, as the demo `agent`;
- phone calls through `recordings.intake.register_call` and their recordings through
  `receive_recording` (which makes the listening copy), as a demo telephony token;
- emails through `intake.email.receive_email`, as the MTA pipe (`flask intake email`) does;
- chatbot conversations through `intake.chatbot.receive_chatbot_conversation`;
- holds through `recordings.holds.place_hold`, as the demo `supervisor`.

Some contacts come from unknown numbers and addresses, so the unidentified queue has work.
It refuses in production, and on a register that already has customers unless `--force`
(which adds another batch). The same `--seed` gives the same people and contacts.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

from cs_register.clock import local_today
from cs_register.contacts.models import Contact
from cs_register.context import Context
from cs_register.customers.models import Customer
from cs_register.customers.services import create_customer
from cs_register.db import Database, get_database
from cs_register.demo_synthetic import TOPICS, Person, mobile_number, people, tone_wav
from cs_register.errors import DomainError, ValidationFailed
from cs_register.intake import chatbot
from cs_register.intake.email import receive_email
from cs_register.integrations.models import IntegrationToken, TokenScope
from cs_register.integrations.services import create_token, find_token_by_name
from cs_register.permissions import Actor, Role
from cs_register.staff.models import StaffUser
from cs_register.staff.services import find_user_by_username
from cs_register.web import current_keyring, current_settings
from cs_register.web import now as app_now
from recordings.holds import place_hold
from recordings.intake import receive_recording, register_call
from recordings.web import current_policy, current_storage

COMMAND_ACTOR = Actor.for_command("seed-demo-data")
PBX_TOKEN_NAME = "demo-pbx"  # noqa: S105 - the token's name, not a secret
SERVICE_ADDRESS = "asiakaspalvelu@example.fi"
# About one contact in five comes from someone the register does not know yet.
UNKNOWN_SHARE = 0.2


@dataclass(frozen=True)
class DemoCounts:
    """How much to make: small numbers keep the tests fast."""

    customers: int = 50
    calls: int = 40
    recordings: int = 15
    emails: int = 30
    chats: int = 20
    holds: int = 3
    days: int = 80


@dataclass(frozen=True)
class DemoSummary:
    """What was made, in the terms it was asked for: every customer, call, recording, email
    and chat asked for is made or the seeding fails; holds go only on recordings there are."""

    made: DemoCounts
    unlinked: int

    def lines(self) -> list[str]:
        made = self.made
        return [
            f"  customers:      {made.customers}",
            f"  phone calls:    {made.calls} ({made.recordings} with a recording)",
            f"  emails:         {made.emails}",
            f"  chatbot chats:  {made.chats}",
            f"  holds:          {made.holds}",
            f"  unidentified:   {self.unlinked} contacts waiting to be linked",
        ]


class DemoRefused(Exception):
    """Why nothing was seeded, for the command to print."""


def _staff(database: Database, username: str, role: Role) -> StaffUser:
    with database.unit_of_work() as session:
        user = find_user_by_username(session, username)
        if user is None or not user.is_active or user.role is not role:
            raise DemoRefused(
                f"The demo account {username!r} ({role.value}) is needed to act as; run"
                " `flask seed-demo-staff` on an empty database first."
            )
        session.expunge(user)
        return user


@dataclass(frozen=True)
class _Batch:
    """What every channel's contacts are made from."""

    database: Database
    now: datetime
    rng: random.Random
    counts: DemoCounts
    persons: list[Person]

    def when(self) -> datetime:
        """A moment in the last `counts.days` days, in office hours-ish, never in the future."""
        days, hours = self.rng.uniform(0, self.counts.days), self.rng.uniform(0, 8)
        moment = self.now - timedelta(days=days, hours=hours)
        return min(moment, self.now - timedelta(minutes=5)).replace(microsecond=0)

    def unknown(self, index: int) -> bool:
        """Whether contact `index` of a channel comes from someone the register does not know:
        the first of each channel always, so even a tiny seeding leaves the queue some work."""
        return index == 0 or self.rng.random() < UNKNOWN_SHARE


def seed_demo_data(
    database: Database, *, now: datetime, rng: random.Random, counts: DemoCounts
) -> DemoSummary:
    """Fill the register; call inside an app context (storage, keys, retention policy)."""
    if current_settings().is_production:
        raise DemoRefused("seed-demo-data makes up people: it never runs in production.")
    agent = _staff(database, "agent", Role.AGENT)
    supervisor = _staff(database, "supervisor", Role.SUPERVISOR)
    persons = people(rng, counts.customers)
    with database.unit_of_work() as session:
        ctx = Context(session=session, actor=Actor.for_staff(agent), now=now)
        for person in persons:
            create_customer(ctx, current_keyring(), form=person.form())
    batch = _Batch(database=database, now=now, rng=rng, counts=counts, persons=persons)
    recorded, unlinked = _calls(batch)
    unlinked += _emails(batch)
    unlinked += _chats(batch)
    held = recorded[: counts.holds]
    _holds(database, now=now, rng=rng, supervisor=supervisor, recorded=held)
    return DemoSummary(made=replace(counts, holds=len(held)), unlinked=unlinked)


def _pbx_token(ctx: Context) -> IntegrationToken:
    # The raw token is thrown away: the seeding calls the service directly, not the API.
    token = find_token_by_name(ctx.session, PBX_TOKEN_NAME)
    if token is None:
        token, _raw = create_token(ctx, name=PBX_TOKEN_NAME, scope=TokenScope.TELEPHONY)
    return token


def _calls(batch: _Batch) -> tuple[list[str], int]:
    """The phone calls, the first `counts.recordings` with a recording; returns the public ids
    of the recordings, newest call first (holds go on those), and how many calls are from
    numbers no customer has."""
    rng = batch.rng
    recorded: list[tuple[datetime, str]] = []
    unlinked = 0
    with batch.database.unit_of_work() as session:
        token = _pbx_token(Context(session=session, actor=COMMAND_ACTOR, now=batch.now))
        ctx = Context(session=session, actor=Actor.for_integration(token.name), now=batch.now)
        for index in range(batch.counts.calls):
            unknown = batch.unknown(index)
            number = None if unknown and rng.random() < 0.3 else mobile_number(rng)
            if not unknown:
                number = rng.choice(batch.persons).phone
            started_at = batch.when()
            ended_at = started_at + timedelta(seconds=rng.randrange(40, 900))
            call, _created = register_call(
                ctx,
                token=token,
                payload={
                    "external_call_id": f"demo-{uuid.UUID(int=rng.getrandbits(128)).hex}",
                    "direction": "inbound" if rng.random() < 0.8 else "outbound",
                    "customer_number": number,
                    "agent_username": "agent",
                    "started_at": started_at.isoformat(),
                    "ended_at": ended_at.isoformat(),
                },
            )
            contact = session.get(Contact, call.contact_id)
            unlinked += int(contact is not None and contact.customer_id is None)
            if index < batch.counts.recordings:
                recording, _ = receive_recording(
                    ctx,
                    current_storage(),
                    call_or_contact=call,
                    chunks=[tone_wav(rng)],
                    content_type="audio/wav",
                    recorded_at=started_at,
                    max_bytes=current_settings().max_upload_bytes,
                    policy=current_policy(),
                    token=token,
                )
                recorded.append((started_at, recording.public_id))
    return [public_id for _, public_id in sorted(recorded, reverse=True)], unlinked


def _emails(batch: _Batch) -> int:
    """The emails; returns how many are from addresses no customer has."""
    rng = batch.rng
    unlinked = 0
    with batch.database.unit_of_work() as session:
        ctx = Context(session=session, actor=COMMAND_ACTOR, now=batch.now)
        for index in range(batch.counts.emails):
            person = None if batch.unknown(index) else rng.choice(batch.persons)
            subject, text = rng.choice(TOPICS)
            message = EmailMessage()
            sender = person.email if person else f"visitor{rng.randrange(1000)}@example.org"
            message["From"] = f"{person.name} <{sender}>" if person else sender
            message["To"] = SERVICE_ADDRESS
            message["Subject"] = subject
            message["Date"] = format_datetime(batch.when())
            message["Message-ID"] = f"<{uuid.UUID(int=rng.getrandbits(128)).hex}@demo.example>"
            message.set_content(
                f"Hello,\n\n{text}\n\nBest regards,\n{person.name if person else ''}"
            )
            _email, contact, _created = receive_email(ctx, raw=message.as_bytes())
            unlinked += int(contact.customer_id is None)
    return unlinked


def _chats(batch: _Batch) -> int:
    """The chatbot conversations; returns how many the chatbot could not link to a customer."""
    rng = batch.rng
    unlinked = 0
    with batch.database.unit_of_work() as session:
        ctx = Context(session=session, actor=chatbot.ACTOR, now=batch.now)
        for index in range(batch.counts.chats):
            person = None if batch.unknown(index) else rng.choice(batch.persons)
            subject, text = rng.choice(TOPICS)
            started_at = batch.when()
            handover = rng.random() < 0.3
            result = chatbot.receive_chatbot_conversation(
                ctx,
                webhook_id=f"msg_demo_{uuid.UUID(int=rng.getrandbits(128)).hex}",
                payload={
                    "conversation_id": f"demo-{uuid.UUID(int=rng.getrandbits(128)).hex}",
                    "started_at": started_at.isoformat(),
                    "ended_at": (started_at + timedelta(minutes=4)).isoformat(),
                    "customer": (
                        {"name": person.name, "email": person.email, "phone": person.phone}
                        if person
                        else None
                    ),
                    "language": "en",
                    "summary": subject,
                    "transcript": [
                        {"speaker": "bot", "text": "Hello! How can I help you?"},
                        {"speaker": "customer", "text": text},
                        {"speaker": "bot", "text": "I will pass this on to customer service."},
                    ],
                    "handover": handover,
                },
            )
            unlinked += int(not result.body.get("linked", False))
    return unlinked


def _holds(
    database: Database,
    *,
    now: datetime,
    rng: random.Random,
    supervisor: StaffUser,
    recorded: list[str],
) -> None:
    """Quality-development and complaint holds; the first ends in three days."""
    today = local_today(now)
    with database.unit_of_work() as session:
        ctx = Context(session=session, actor=Actor.for_staff(supervisor), now=now)
        for index, public_id in enumerate(recorded):
            complaint = index % 2 == 1
            place_hold(
                ctx,
                recording_public_id=public_id,
                reason="complaint" if complaint else "quality_development",
                reference=f"{'COMPLAINT' if complaint else 'QD'}-{rng.randrange(100, 999)}",
                justification=(
                    "The customer complained about how the call was handled."
                    if complaint
                    else "Used in the onboarding training for new agents."
                ),
                ends_on=today + timedelta(days=3 if index == 0 else rng.randrange(60, 180)),
                policy=current_policy(),
            )


@click.command("seed-demo-data")
@click.option("--customers", type=click.IntRange(1, 1000), default=DemoCounts.customers)
@click.option("--calls", type=click.IntRange(0, 1000), default=DemoCounts.calls)
@click.option(
    "--recordings",
    type=click.IntRange(0, 200),
    default=DemoCounts.recordings,
    help="How many of the calls get a recording (a few seconds of tones each).",
)
@click.option("--emails", type=click.IntRange(0, 1000), default=DemoCounts.emails)
@click.option("--chats", type=click.IntRange(0, 1000), default=DemoCounts.chats)
@click.option("--holds", type=click.IntRange(0, 20), default=DemoCounts.holds)
@click.option("--days", type=click.IntRange(1, 85), default=DemoCounts.days, help="Spread.")
@click.option("--seed", type=int, default=None, help="Make the same data again.")
@click.option("--force", is_flag=True, help="Add another batch to a register with customers.")
@with_appcontext
def seed_demo_data_command(seed: int | None, force: bool, **sizes: int) -> None:
    """Fill an empty development register with synthetic customers, calls (with recordings),
    emails, chatbot conversations and holds. Refused in production, and when customers exist
    unless --force."""
    if current_settings().is_production:
        raise click.ClickException(
            "seed-demo-data makes up people: it is refused in production (CS_ENV=production)."
        )
    counts = DemoCounts(**sizes)
    database = get_database(current_app)
    with database.unit_of_work() as session:
        existing = session.scalar(sa.select(sa.func.count()).select_from(Customer)) or 0
    if existing and not force:
        raise click.ClickException(
            f"The register already has {existing} customers; nothing was added."
            " Use --force to add another batch."
        )
    if counts.recordings > counts.calls:
        raise click.BadParameter("cannot exceed --calls", param_hint="--recordings")
    try:
        # Seeded on purpose: the same --seed makes the same people; nothing here is secret.
        rng = random.Random(seed)  # noqa: S311
        summary = seed_demo_data(database, now=app_now(), rng=rng, counts=counts)
    except DemoRefused as refused:
        raise click.ClickException(str(refused)) from None
    except ValidationFailed as failure:
        # E.g. --force with a --seed used before: the same identity codes exist already.
        messages = [message for field in failure.errors.values() for message in field]
        raise click.ClickException("Demo data was refused: " + " ".join(messages)) from None
    except DomainError as error:
        raise click.ClickException(error.detail) from None
    click.echo("Demo data added (synthetic people; example.* addresses):")
    for line in summary.lines():
        click.echo(line)
