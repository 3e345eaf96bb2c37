"""What the staff package holds about people: staff members' own accounts and sessions.

Staff members are data subjects too, but not customers: `find` returns nothing for a
customer. The claim is here so that the schema walk, retention and the DPO see these tables.
"""

from __future__ import annotations

from collections.abc import Sequence

from cs_register.context import Context
from cs_register.languages import N_
from cs_register.personal_data import (
    DataSubject,
    DataSubjectKind,
    DescribedSource,
    Finding,
    SourceDescription,
    claim,
)

STAFF = DataSubjectKind.STAFF
DESCRIPTION = SourceDescription(
    name="staff",
    title=N_("Staff accounts"),
    retention=N_("Accounts while employed; sessions until they expire; sign-ins 45 days."),
    tables=(
        claim("staff_users", N_("Personal accounts."), "username", "display_name", about=STAFF),
        claim("staff_sessions", N_("Signed-in sessions."), "user_id", "token_hash", about=STAFF),
        claim(
            "staff_sign_ins",
            N_("Sign-in attempts with the source address, for security; kept 45 days."),
            "user_id",
            "source_address",
            about=STAFF,
        ),
        claim(
            "staff_recovery_codes",
            N_("Two-step login's one-time recovery codes (hashed)."),
            "user_id",
            "code_hash",
            about=STAFF,
        ),
        claim(
            "staff_passkeys",
            N_("Passkeys registered as a second factor (public keys only)."),
            "user_id",
            "credential_id",
            "public_key",
            "name",
            about=STAFF,
        ),
        claim(
            "staff_change_requests",
            N_(
                "Changes to staff accounts asked by one admin and decided by another, kept as"
                " the record of who asked and who approved."
            ),
            "username",
            "display_name",
            "target_user_id",
            "requested_by_id",
            "decided_by_id",
            about=STAFF,
        ),
    ),
)


class StaffRecords(DescribedSource, description=DESCRIPTION):
    def find(
        self, ctx: Context, subject: DataSubject, earlier: Sequence[Finding]
    ) -> Sequence[Finding]:
        return ()
