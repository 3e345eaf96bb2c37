"""What the staff package holds about people: staff members' own accounts and sessions.

Staff members are data subjects too, but not customers: `find` returns nothing for a
customer. The claim is here so that the schema walk, retention and the DPO see these tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cs_register.context import Context
from cs_register.personal_data import (
    DataSubject,
    DataSubjectKind,
    Finding,
    SourceDescription,
    TableClaim,
)


@dataclass(frozen=True)
class StaffRecords:
    def describe(self) -> SourceDescription:
        return SourceDescription(
            name="staff",
            title="Staff accounts",
            tables=(
                TableClaim(
                    table="staff_users",
                    columns=("username", "display_name", "password_hash"),
                    purpose="Personal accounts for access by work duties.",
                    about=DataSubjectKind.STAFF,
                ),
                TableClaim(
                    table="staff_sessions",
                    columns=("user_id", "token_hash"),
                    purpose="Signed-in sessions, for idle timeout and sign-out everywhere.",
                    about=DataSubjectKind.STAFF,
                ),
            ),
        )

    def find(
        self, ctx: Context, subject: DataSubject, earlier: Sequence[Finding]
    ) -> Sequence[Finding]:
        return ()
