"""The audit trail in words: what each action, actor and kind of subject is called on the
console and in the CSV export.

Every `AuditAction` gets its label here and nowhere else, inside the group the trail's
filter offers it under. The table is keyed by the action's stored value rather than by the
member, so a label may be written in the same change that adds its member in `models.py`
without either file depending on the other's order; `tests/cs_register/audit/test_labels.py`
fails as soon as a member has no label.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cs_register.audit.models import AuditAction


@dataclass(frozen=True)
class ActionGroup:
    """Actions the filter offers together ("everything about recordings")."""

    key: str
    label: str
    labels: Mapping[str, str]

    def actions(self) -> frozenset[AuditAction]:
        """The group's members that exist in this code base."""
        known = {action.value: action for action in AuditAction}
        return frozenset(known[value] for value in self.labels if value in known)


ACTION_GROUPS: tuple[ActionGroup, ...] = (
    ActionGroup(
        "sign_in",
        "Signing in",
        {
            "login": "Signed in",
            "login_failed": "Sign-in failed",
            "login_throttled": "Sign-in attempts slowed down",
            "logout": "Signed out",
            "password_changed": "Changed own password",
            "own_sessions_ended": "Ended own other sessions",
            "two_step_enrolled": "Set up two-step login",
            "two_step_failed": "Two-step code refused",
            "recovery_code_used": "Signed in with a recovery code",
            "recovery_codes_renewed": "Renewed recovery codes",
            "passkey_added": "Added a passkey",
            "passkey_removed": "Removed a passkey",
            "passkey_used": "Signed in with a passkey",
        },
    ),
    ActionGroup(
        "staff",
        "Staff accounts",
        {
            "staff_created": "Created a staff account",
            "staff_role_changed": "Changed a staff member's role",
            "staff_deactivated": "Deactivated a staff account",
            "staff_reactivated": "Reactivated a staff account",
            "staff_password_reset": "Reset a staff member's password",
            "staff_sessions_ended": "Ended a staff member's sessions",
            "two_step_reset": "Reset a staff member's two-step login",
            "staff_change_requested": "Asked for a staff change",
            "staff_change_approved": "Approved a staff change",
            "staff_change_rejected": "Rejected a staff change",
            "staff_change_withdrawn": "Withdrew a staff change",
        },
    ),
    ActionGroup(
        "customers",
        "Customers",
        {
            "customer_searched": "Searched customers",
            "customer_viewed": "Viewed a customer",
            "customer_created": "Created a customer",
            "customer_updated": "Corrected a customer",
            "customer_history_viewed": "Viewed a customer's correction history",
            "identity_code_revealed": "Revealed an identity code",
            "customer_choice_recorded": "Recorded a prohibition or consent",
            "customer_choice_ended": "Ended a prohibition or consent",
        },
    ),
    ActionGroup(
        "contacts",
        "Contacts",
        {
            "contact_created": "Logged a contact",
            "contact_viewed": "Viewed a contact",
            "contact_linked": "Linked a contact to a customer",
            "contact_relinked": "Moved a contact to another customer",
            "contact_edited": "Corrected a contact",
            "identity_verified": "Recorded an identity check",
            "email_contact_received": "Email received",
            "chatbot_contact_received": "Chat received from the chatbot",
            "unlinked_contacts_searched": "Searched the unidentified contacts",
            "handover_closed": "Closed a chatbot handover",
            "handover_claimed": "Claimed a chatbot handover",
            "handover_assigned": "Assigned a chatbot handover",
            "handover_released": "Released a chatbot handover",
        },
    ),
    ActionGroup(
        "recordings",
        "Calls and recordings",
        {
            "call_registered": "Call registered by the PBX",
            "call_event_received": "Live call event from the PBX",
            "screen_pop_shown": "Screen pop shown for a call",
            "recent_calls_viewed": "Viewed own recent calls",
            "recording_stored": "Recording stored",
            "recording_viewed": "Viewed a recording",
            "recording_played": "Played a recording",
            "recording_downloaded": "Downloaded a recording",
            "hold_placed": "Placed a hold on a recording",
            "hold_released": "Released a hold",
            "hold_expired": "Hold expired",
        },
    ),
    ActionGroup(
        "retention",
        "Retention and keys",
        {
            "recording_purged": "Recording purged",
            "recording_audio_missing": "Recording's audio found missing",
            "orphan_file_purged": "Stray audio file deleted",
            "data_retention_applied": "Old data removed by retention",
            "key_rotation_started": "Key rotation started",
            "key_rotation_finished": "Key rotation finished",
            "key_version_retired": "Key version retired",
        },
    ),
    ActionGroup(
        "privacy",
        "Privacy requests",
        {
            "personal_data_reviewed": "Reviewed everything held about a person",
            "privacy_request_registered": "Registered a privacy request",
            "privacy_request_viewed": "Viewed a privacy request",
            "privacy_queue_viewed": "Viewed the privacy request queue",
            "privacy_request_started": "Started a privacy request",
            "privacy_request_extended": "Extended a privacy request's deadline",
            "privacy_request_completed": "Completed a privacy request",
            "privacy_request_refused": "Refused a privacy request",
            "privacy_export_requested": "Asked for a data download",
            "privacy_export_built": "Data download built",
            "privacy_export_downloaded": "Downloaded a data download",
            "privacy_export_deleted": "Data download deleted",
            "privacy_erasure_started": "Started an erasure",
            "privacy_erasure_completed": "Erasure completed",
            "customer_restricted": "Restricted a customer's processing",
            "customer_restriction_lifted": "Lifted a customer's restriction",
            "customer_objection_recorded": "Recorded an objection",
            "customer_objection_withdrawn": "Withdrew an objection",
        },
    ),
    ActionGroup(
        "integrations",
        "Integrations",
        {
            "integration_token_created": "Created an integration token",
            "integration_token_revoked": "Revoked an integration token",
            "webhook_secret_created": "Created a webhook secret",
            "webhook_secret_retired": "Retired a webhook secret",
            "marketing_feed_read": "Marketing feed read",
        },
    ),
    ActionGroup(
        "oversight",
        "Oversight",
        {
            "audit_viewed": "Viewed the audit trail",
            "audit_trail_exported": "Downloaded the audit trail",
            "statistics_viewed": "Viewed the statistics",
            "statistics_downloaded": "Downloaded the statistics",
        },
    ),
)
GROUPS_BY_KEY: Mapping[str, ActionGroup] = {group.key: group for group in ACTION_GROUPS}
_LABELS: Mapping[str, str] = {
    value: label for group in ACTION_GROUPS for value, label in group.labels.items()
}

# Views of something, which a reload or a player's range requests repeat within moments: the
# page shows such a run as one row with a count (`browsing.collapse`); the rows stay.
VIEW_ACTIONS: frozenset[str] = frozenset(
    {
        "customer_searched",
        "unlinked_contacts_searched",
        "customer_viewed",
        "customer_history_viewed",
        "contact_viewed",
        "recording_viewed",
        "recording_played",
        "screen_pop_shown",
        "recent_calls_viewed",
        "personal_data_reviewed",
        "privacy_request_viewed",
        "privacy_queue_viewed",
        "audit_viewed",
        "statistics_viewed",
        "marketing_feed_read",
    }
)

# What each kind of subject is called. A kind not listed is shown by its stored name.
SUBJECT_TYPE_LABELS: Mapping[str, str] = {
    "customer": "customer",
    "contact": "contact",
    "call": "call",
    "recording": "recording",
    "email": "email",
    "staff": "staff member",
    "staff_change_request": "staff change request",
    "privacy_request": "privacy request",
    "privacy_export": "data download",
    "privacy_queue": "privacy request queue",
    "key_rotation": "key rotation",
    "retention_receipt": "retention receipt",
    "storage_file": "stored file",
}


def action_label(action: AuditAction) -> str:
    """The action in words; an unlabelled one (which the tests refuse) still reads sensibly."""
    return _LABELS.get(action.value) or action.value.replace("_", " ").capitalize()


def is_view(action: AuditAction) -> bool:
    return action.value in VIEW_ACTIONS


def subject_type_label(subject_type: str) -> str:
    return SUBJECT_TYPE_LABELS.get(subject_type, subject_type.replace("_", " "))


def actor_words(label: str, staff_name: str | None = None) -> str:
    """Who acted, as a reader says it. `label` is the row's snapshot (`Actor.audit_label`);
    a staff member is named by their display name as it is now, when it is known."""
    if staff_name:
        return staff_name
    if label.startswith("integration:"):
        return f"{label.removeprefix('integration:')} (integration)"
    if label == "system" or label.startswith("job:"):
        return "job"
    if label == "cli" or label.startswith("cli:"):
        return "command line"
    if label == "unknown":
        return "someone not signed in"
    return label
