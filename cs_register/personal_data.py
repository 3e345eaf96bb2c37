"""The personal-data registry: every package that holds personal data says where and why.

Each domain package registers one `PersonalDataSource` in `create_app`: the tables and columns
it holds about people, for what purpose, and a `find` that returns everything it holds about
one customer. Data-subject rights (access, export, erasure, restriction), retention and the
DPO's "everything held about this person" page go through the registry, so a new package is
covered as soon as it registers, and a table with personal data that no source claims fails
the suite (tests/cs_register/test_personal_data.py walks the schema).

Findings name rows by public id (or table and row id), never by personal data, so they can be
audited; the values in `fields` are for the DPO's eyes, with identity codes masked.

Erasure goes through the registry too (`cs_register.privacy.erasure` drives it): the sources
that hold customers' data say which contacts are about the person (`ContactMatcher`), delete
their stored files first, each in its own crash-safe steps (`FileEraser`), and then delete
their rows in one transaction, last-registered first so rows that point at the customer go
before the customer (`ErasableSource`). A source that holds customers' data and cannot erase
it fails the suite like an unregistered table.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Protocol, runtime_checkable

from flask import Flask, current_app
from sqlalchemy.orm import Session

from cs_register.context import Context
from cs_register.db import Database

_EXTENSION = "cs_register.personal_data"


class DataSubjectKind(enum.Enum):
    CUSTOMER = "customer"
    STAFF = "staff"


@dataclass(frozen=True)
class TableClaim:
    """One table a source holds, the columns in it that are (or point to) personal data."""

    table: str
    columns: tuple[str, ...]
    purpose: str
    about: DataSubjectKind = DataSubjectKind.CUSTOMER


def claim(
    table: str,
    purpose: str,
    *columns: str,
    about: DataSubjectKind = DataSubjectKind.CUSTOMER,
) -> TableClaim:
    return TableClaim(table=table, columns=columns, purpose=purpose, about=about)


@dataclass(frozen=True)
class SourceDescription:
    name: str
    title: str
    tables: tuple[TableClaim, ...]
    # How long the source keeps what it holds, as the DPO reads it (the rules are its own).
    retention: str = ""

    def finding_kind(self, table: str, category: str) -> FindingKind:
        """What the source lists about a person from one of the tables it claims (a source
        that names a table it has not claimed is refused as it is declared)."""
        if table not in {claimed.table for claimed in self.tables}:
            raise LookupError(f"the {self.name} source has not claimed the table {table}")
        return FindingKind(self.name, category, table)


class DescribedSource:
    """A source whose description is the same in every deployment: it names it once, in its
    class statement (`class ContactRecords(DescribedSource, description=...)`), and
    `describe()` returns it."""

    description: ClassVar[SourceDescription]

    def __init_subclass__(cls, *, description: SourceDescription, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.description = description

    def describe(self) -> SourceDescription:
        return self.description


@dataclass(frozen=True)
class DataSubject:
    """The customer whose data is looked for. Their phone and email (as stored) let sources
    find what was never linked to them: a call from their number, an email from their address
    still waiting in the unidentified queue."""

    customer_id: int
    customer_public_id: str
    phone_e164: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Finding:
    """One thing held about the person: a row (or a stored file) and what it says."""

    source: str
    category: str
    table: str
    reference: str
    occurred_at: datetime | None
    fields: tuple[tuple[str, str], ...] = ()
    # Found by their phone number or email address only, not linked to them: it may be
    # someone else's (a shared line), so an export includes it only once the DPO confirms.
    needs_confirmation: bool = False


@dataclass(frozen=True)
class FindingKind:
    """One kind of thing a source finds (a contact, a call, ...), to build its findings."""

    source: str
    category: str
    table: str
    needs_confirmation: bool = False

    def unlinked(self, category: str) -> FindingKind:
        """The same kind of row found by the person's phone or email only, not linked to
        them: it needs the DPO's confirmation before an export includes it."""
        return FindingKind(self.source, category, self.table, needs_confirmation=True)

    def of(self, reference: str, occurred_at: datetime | None, *fields: tuple[str, str]) -> Finding:
        return Finding(
            self.source,
            self.category,
            self.table,
            reference,
            occurred_at,
            fields,
            self.needs_confirmation,
        )


@dataclass(frozen=True)
class HeldFile:
    """A stored file held about the person (a call recording's audio), for exports: where the
    export puts it, which finding it belongs to, and how to read it."""

    name: str  # a path inside the export, e.g. "recordings/<public id>.wav"
    reference: str  # the finding's reference
    sha256: str
    size_bytes: int
    open: Callable[[], Iterator[bytes]]


@runtime_checkable
class FileSource(Protocol):
    """A source that also holds files about people (optional besides `find`)."""

    def files(self, ctx: Context, subject: DataSubject) -> Sequence[HeldFile]: ...


@dataclass(frozen=True)
class ErasureScope:
    """What one deletion reaches. An erasure: the customer (`subject`), and every contact held
    about them, whether linked to them or unlinked but from their phone number or email
    address. The retention sweep: contacts past their time (`subject` None: only the contacts
    and what hangs on them go, nobody's record)."""

    subject: DataSubject | None
    contact_ids: frozenset[int]


@dataclass(frozen=True)
class KeptItem:
    """Something an erasure did not remove, and why (the outcome tells the person)."""

    category: str
    reference: str
    why: str


@dataclass
class ErasureTally:
    """What the sources erased (counts per category) and kept, as they go."""

    erased: dict[str, int] = field(default_factory=dict)
    kept: list[KeptItem] = field(default_factory=list)
    # Contacts that stay as bare rows (no customer, no text) because something kept hangs on
    # them, e.g. a recording under a complaint hold.
    bare_contact_ids: set[int] = field(default_factory=set)

    def count(self, category: str, how_many: int) -> None:
        if how_many:
            self.erased[category] = self.erased.get(category, 0) + how_many

    def keep(self, category: str, reference: str, why: str) -> None:
        self.kept.append(KeptItem(category, reference, why))


@dataclass(frozen=True)
class ErasureRun:
    """The file step's own transactions: the database, the time, and the job doing it."""

    database: Database
    now: datetime
    job_id: str | None


class FilesStillStored(Exception):
    """The rows cannot go yet: a file in scope is still stored (one arrived after the file
    step, or its deletion failed). The erasure runs its file step again."""


@runtime_checkable
class ContactMatcher(Protocol):
    def contacts_about(self, session: Session, subject: DataSubject) -> set[int]:
        """Ids of the contacts this source knows to be about `subject`."""
        ...


@runtime_checkable
class RetentionKeeper(Protocol):
    def keeps(self, session: Session, contact_ids: Sequence[int]) -> dict[int, str]:
        """Of `contact_ids` (past their time), those this source still needs, with why."""
        ...


@runtime_checkable
class CustomerKeeper(Protocol):
    def keeps_customers(
        self, session: Session, customer_ids: Sequence[int], *, due_before: datetime
    ) -> dict[int, str]:
        """Of `customer_ids` (no contact left, idle since `due_before`), those this source
        still needs, with why."""
        ...


@runtime_checkable
class FileEraser(Protocol):
    def erase_files(self, run: ErasureRun, scope: ErasureScope) -> None:
        """Delete the stored files in `scope`, each in its own crash-safe steps, idempotently."""
        ...


@runtime_checkable
class ErasableSource(Protocol):
    def erase(self, ctx: Context, scope: ErasureScope, tally: ErasureTally) -> None:
        """Delete (or strip of personal content) this source's rows in `scope`, in the
        caller's transaction, noting in `tally` what went and what was kept and why. Raise
        `FilesStillStored` when a file that should be gone is still stored."""
        ...


class PersonalDataSource(Protocol):
    def describe(self) -> SourceDescription: ...

    def find(
        self, ctx: Context, subject: DataSubject, earlier: Sequence[Finding]
    ) -> Sequence[Finding]:
        """What this source holds about `subject`. `earlier` holds the findings of the
        sources registered before it (the audit trail looks for events about any of them)."""
        ...


@dataclass
class PersonalDataRegistry:
    sources: list[PersonalDataSource]

    def describe(self) -> list[SourceDescription]:
        return [source.describe() for source in self.sources]

    def claimed_tables(self) -> dict[str, TableClaim]:
        return {claim.table: claim for desc in self.describe() for claim in desc.tables}

    def find(self, ctx: Context, subject: DataSubject) -> list[Finding]:
        findings: list[Finding] = []
        for source in self.sources:
            findings.extend(source.find(ctx, subject, tuple(findings)))
        return findings

    def files(self, ctx: Context, subject: DataSubject) -> list[HeldFile]:
        """Every stored file the sources hold about `subject`."""
        held: list[HeldFile] = []
        for source in self.sources:
            if isinstance(source, FileSource):
                held.extend(source.files(ctx, subject))
        return held

    def erasure_scope(self, session: Session, subject: DataSubject) -> ErasureScope:
        contact_ids: set[int] = set()
        for source in self.sources:
            if isinstance(source, ContactMatcher):
                contact_ids |= source.contacts_about(session, subject)
        return ErasureScope(subject=subject, contact_ids=frozenset(contact_ids))

    def kept_contacts(self, session: Session, contact_ids: Sequence[int]) -> dict[int, str]:
        """Of contacts past their retention, those a source still needs, and why."""
        kept: dict[int, str] = {}
        for source in self.sources:
            if isinstance(source, RetentionKeeper):
                for contact_id, why in source.keeps(session, contact_ids).items():
                    kept.setdefault(contact_id, why)
        return kept

    def kept_customers(
        self, session: Session, customer_ids: Sequence[int], *, due_before: datetime
    ) -> dict[int, str]:
        """Of customers with nothing left about them, those a source still needs, and why."""
        kept: dict[int, str] = {}
        for source in self.sources:
            if isinstance(source, CustomerKeeper):
                found = source.keeps_customers(session, customer_ids, due_before=due_before)
                for customer_id, why in found.items():
                    kept.setdefault(customer_id, why)
        return kept

    def erase_files(self, run: ErasureRun, scope: ErasureScope) -> None:
        for source in self.sources:
            if isinstance(source, FileEraser):
                source.erase_files(run, scope)

    def erase(self, ctx: Context, scope: ErasureScope) -> ErasureTally:
        """Every source's rows in `scope`, in the caller's transaction, last-registered first."""
        tally = ErasureTally()
        for source in reversed(self.sources):
            if isinstance(source, ErasableSource):
                source.erase(ctx, scope, tally)
        ctx.session.flush()
        return tally

    def unerasable(self) -> list[str]:
        """Sources holding customers' data that cannot erase it (the suite wants none)."""
        return [
            source.describe().name
            for source in self.sources
            if not isinstance(source, ErasableSource)
            and any(t.about is DataSubjectKind.CUSTOMER for t in source.describe().tables)
        ]


def install(app: Flask, registry: PersonalDataRegistry) -> None:
    """Make `registry` the app's (built once by `cs_register.sources`)."""
    app.extensions[_EXTENSION] = registry


def register(app: Flask, source: PersonalDataSource) -> None:
    """Add `source`; sources are asked in registration order (the audit trail last)."""
    registry: PersonalDataRegistry = app.extensions.setdefault(
        _EXTENSION, PersonalDataRegistry(sources=[])
    )
    registry.sources.append(source)


def registry(app: Flask | None = None) -> PersonalDataRegistry:
    target = app if app is not None else current_app
    found: PersonalDataRegistry = target.extensions.setdefault(
        _EXTENSION, PersonalDataRegistry(sources=[])
    )
    return found
