"""The record of processing activities (GDPR article 30), built from what the register is.

Everything in it comes from the running deployment: the categories of data and their purposes
from the personal-data registry (so a new table with personal data appears here as soon as it
is registered), the retention periods from the live settings, the recipients from the
integrations configured in the database. `flask privacy processing-record` prints it as
Markdown; `docs/processing-record.md` is its output for the default settings, and a test keeps
the two in step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register.config import Settings
from cs_register.integrations.models import IntegrationToken, TokenScope, WebhookSecret
from cs_register.personal_data import DataSubjectKind, PersonalDataRegistry

_SUBJECTS = {
    DataSubjectKind.CUSTOMER: "Customers of the e-mailbox service who contact customer service"
    " (and callers or senders not yet identified as one)",
    DataSubjectKind.STAFF: "Customer-service staff (agents, supervisors, the data-protection"
    " officer, administrators)",
}
_SCOPE_RECIPIENTS = {
    TokenScope.TELEPHONY: "delivers calls and recordings (reads back only what it sent)",
    TokenScope.EMAIL: "delivers emails sent to customer service",
    TokenScope.MARKETING: "receives prohibition and consent changes with the customer's email"
    " and phone",
}
SOURCES_OF_DATA = (
    ("Phone", "the telephony system (PBX) reports each call and uploads its recording"),
    ("Email", "the mail gateway delivers each message sent to customer service"),
    ("Chatbot", "the chatbot platform posts each conversation (signed webhooks)"),
    (
        "Console",
        "agents log contacts, identity checks, prohibitions and consents as the"
        " customer tells them",
    ),
)
SECURITY_MEASURES = (
    "Personal accounts with roles by work duty; every route behind login except the sign-in"
    " page, static files and the health check; roles checked in views and services.",
    "Two-step login: a password and an authenticator app's one-time code (TOTP) or a passkey"
    " (WebAuthn), with one-time recovery codes (required for every account unless"
    " `TWO_STEP_LOGIN=optional`).",
    "Four eyes on privilege: a supervisor, DPO or admin account, a change to one of those"
    " roles, such an account's password reset and any two-step reset take effect only when a"
    " second admin approves; agents play a transcoded listening copy, only supervisors"
    " download original recordings.",
    "Passwords of at least 12 characters, refused when guessable (zxcvbn, with the account's"
    " names and the service's words as context), hashed with argon2id; server-side sessions"
    " with idle and absolute timeouts; sign-in attempts recorded with the source address"
    " (kept 45 days).",
    "Identity codes encrypted (AES-GCM) with a keyed blind index for search, masked on screen,"
    " revealed only with a stated purpose, audited; redacted from free text on every channel.",
    "An append-only audit trail of who saw or changed what, enforced by database triggers.",
    "Recordings purged when due by scheduled jobs, each purge, erasure and retention batch"
    " proven by a hash-chained receipt the database refuses to change.",
    "Integration tokens stored as SHA-256 only, each limited to its scope; webhooks signed"
    " (Standard Webhooks) with rotating secrets.",
    "CSRF protection on every form; a strict Content-Security-Policy with no inline script;"
    " no caching of console pages; secure cookies over HTTPS in production.",
    "Statistics only from daily counts, with any cell under 5 suppressed.",
)


@dataclass(frozen=True)
class Recipient:
    name: str
    role: str


def configured_recipients(session: Session) -> list[Recipient]:
    """The integrations with an active credential, by name (alphabetical)."""
    recipients = [
        Recipient(token.name, _SCOPE_RECIPIENTS[token.scope])
        for token in session.scalars(
            sa.select(IntegrationToken).where(IntegrationToken.revoked_at.is_(None))
        )
    ]
    recipients += [
        Recipient(secret.name, "posts chatbot conversations (signed webhooks)")
        for secret in session.scalars(
            sa.select(WebhookSecret).where(WebhookSecret.retired_at.is_(None))
        )
    ]
    return sorted(recipients, key=lambda recipient: recipient.name)


def retention_periods(settings: Settings) -> list[tuple[str, str]]:
    months = "month" if settings.retention_months == 1 else "months"
    return [
        (
            "Call recordings",
            f"{settings.retention_months} {months} after the call (`RETENTION_MONTHS`)",
        ),
        (
            "Holds on recordings",
            f"at most {settings.hold_cap_months} months after the call (`HOLD_CAP_MONTHS`)",
        ),
        (
            "Contacts, texts, calls, identity checks",
            f"{settings.contact_retention_days} days after the contact (`CONTACT_RETENTION_DAYS`)",
        ),
        (
            "Customers with nothing left about them",
            f"{settings.contact_retention_days} days after the last contact",
        ),
        (
            "Prohibitions and consents",
            "while in force; after they end, as long as the"
            f" customer record, at least {settings.contact_retention_days} days",
        ),
        (
            "Audit trail",
            f"{settings.audit_retention_years} years after each event (`AUDIT_RETENTION_YEARS`)",
        ),
        (
            "Data-subject exports (downloads)",
            f"{settings.privacy_export_days} days (`PRIVACY_EXPORT_DAYS`)",
        ),
        ("Staff sign-in records with IP address", "45 days"),
        ("Application logs (with IP addresses)", "45 days (deploy/logrotate.conf)"),
        ("Daily statistics", "kept; they hold no personal data"),
    ]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def processing_record(
    settings: Settings, registry: PersonalDataRegistry, recipients: Sequence[Recipient]
) -> str:
    """The record as Markdown."""
    descriptions = registry.describe()
    lines = [
        "# Record of processing activities",
        "",
        "GDPR article 30(1), for the customer-service contact register (cs-register). Printed by"
        " `flask privacy processing-record` from the deployment's registry, settings and"
        " configured integrations.",
        "",
        "**Controller**: the company operating the e-mailbox service; its name, contact details"
        " and its data-protection officer's are those given in its privacy statement.",
        "",
        "## Purposes",
        "",
    ]
    purposes = dict.fromkeys(
        claim.purpose for description in descriptions for claim in description.tables
    )
    lines += [f"- {purpose}" for purpose in purposes]
    lines += ["", "## Categories of data subjects", ""]
    kinds = dict.fromkeys(
        claim.about for description in descriptions for claim in description.tables
    )
    lines += [f"- {_SUBJECTS[kind]}" for kind in DataSubjectKind if kind in kinds]
    lines += [
        "",
        "## Categories of personal data",
        "",
        "| Held by | Table | Personal data (columns) | Purpose | About |",
        "|---|---|---|---|---|",
    ]
    for description in descriptions:
        for claim in description.tables:
            columns = ", ".join(f"`{column}`" for column in claim.columns)
            lines.append(
                f"| {_cell(description.title)} | `{claim.table}` | {columns} |"
                f" {_cell(claim.purpose)} | {claim.about.value} |"
            )
    lines += ["", "## Sources of the data", ""]
    lines += [f"- **{channel}**: {how}." for channel, how in SOURCES_OF_DATA]
    lines += ["", "## Retention periods (as configured)", "", "| Data | Kept |", "|---|---|"]
    lines += [f"| {what} | {period} |" for what, period in retention_periods(settings)]
    lines += ["", "Each holder's own rule:", ""]
    lines += [
        f"- {description.title}: {description.retention}"
        for description in descriptions
        if description.retention
    ]
    lines += ["", "## Recipients", ""]
    if recipients:
        lines += [f"- `{recipient.name}`: {recipient.role}." for recipient in recipients]
    else:
        lines.append(
            "- No integrations are configured: nobody outside customer service receives data."
        )
    prohibitions = ", ".join(f"`{name}`" for name in settings.prohibitions) or "none"
    purposes_ = ", ".join(f"`{name}`" for name in settings.consent_purposes) or "none"
    lines += [
        "",
        f"Prohibitions recorded: {prohibitions}. Consent purposes recorded: {purposes_}.",
        "",
        "No transfers outside the EU/EEA are made by the register itself.",
        "",
        "## Security measures",
        "",
    ]
    lines += [f"- {measure}" for measure in SECURITY_MEASURES]
    return "\n".join(lines) + "\n"
