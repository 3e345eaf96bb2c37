"""The personal-data registry: every package that holds personal data says where and why.

Each domain package registers one `PersonalDataSource` in `create_app`: the tables and columns
it holds about people, for what purpose, and a `find` that returns everything it holds about
one customer. Data-subject rights (access, export, erasure, restriction), retention and the
DPO's "everything held about this person" page go through the registry, so a new package is
covered as soon as it registers, and a table with personal data that no source claims fails
the suite (tests/cs_register/test_personal_data.py walks the schema).

Findings name rows by public id (or table and row id), never by personal data, so they can be
audited; the values in `fields` are for the DPO's eyes, with identity codes masked.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from flask import Flask, current_app

from cs_register.context import Context

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


@dataclass(frozen=True)
class FindingKind:
    """One kind of thing a source finds (a contact, a call, ...), to build its findings."""

    source: str
    category: str
    table: str

    def of(self, reference: str, occurred_at: datetime | None, *fields: tuple[str, str]) -> Finding:
        return Finding(self.source, self.category, self.table, reference, occurred_at, fields)


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
