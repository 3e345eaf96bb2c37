"""The audit trail in words: what each action, actor and kind of subject is called on the
console and in the CSV export.

Every `AuditAction` gets its label here and nowhere else, inside the group the trail's
filter offers it under. The table is keyed by the action's stored value rather than by the
member, so a label may be written in the same change that adds its member in `models.py`
without either file depending on the other's order; `tests/cs_register/audit/test_labels.py`
fails as soon as a member has no label.

Labels are written in English and marked with `N_` for the catalogs: the page shows them in
the reader's language (`|translated`); the CSV export keeps the English words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cs_register.audit.models import AuditAction
from cs_register.languages import N_


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
        N_("Signing in"),
        {
            "login": N_("Signed in"),
            "login_failed": N_("Sign-in failed"),
            "login_throttled": N_("Sign-in attempts slowed down"),
            "logout": N_("Signed out"),
            "password_changed": N_("Changed own password"),
            "own_sessions_ended": N_("Ended own other sessions"),
            "two_step_enrolled": N_("Set up two-step login"),
            "two_step_failed": N_("Two-step code refused"),
            "recovery_code_used": N_("Signed in with a recovery code"),
            "recovery_codes_renewed": N_("Renewed recovery codes"),
            "passkey_added": N_("Added a passkey"),
            "passkey_removed": N_("Removed a passkey"),
            "passkey_used": N_("Signed in with a passkey"),
        },
    ),
    ActionGroup(
        "staff",
        N_("Staff accounts"),
        {
            "staff_created": N_("Created a staff account"),
            "staff_role_changed": N_("Changed a staff member's role"),
            "staff_deactivated": N_("Deactivated a staff account"),
            "staff_reactivated": N_("Reactivated a staff account"),
            "staff_password_reset": N_("Reset a staff member's password"),
            "staff_sessions_ended": N_("Ended a staff member's sessions"),
            "two_step_reset": N_("Reset a staff member's two-step login"),
            "staff_change_requested": N_("Asked for a staff change"),
            "staff_change_approved": N_("Approved a staff change"),
            "staff_change_rejected": N_("Rejected a staff change"),
            "staff_change_withdrawn": N_("Withdrew a staff change"),
        },
    ),
    ActionGroup(
        "customers",
        N_("Customers"),
        {
            "customer_searched": N_("Searched customers"),
            "customer_viewed": N_("Viewed a customer"),
            "customer_created": N_("Created a customer"),
            "customer_updated": N_("Corrected a customer"),
            "customer_history_viewed": N_("Viewed a customer's correction history"),
            "identity_code_revealed": N_("Revealed an identity code"),
            "customer_choice_recorded": N_("Recorded a prohibition or consent"),
            "customer_choice_ended": N_("Ended a prohibition or consent"),
        },
    ),
    ActionGroup(
        "contacts",
        N_("Contacts"),
        {
            "contact_created": N_("Logged a contact"),
            "contact_viewed": N_("Viewed a contact"),
            "contact_linked": N_("Linked a contact to a customer"),
            "contact_relinked": N_("Moved a contact to another customer"),
            "contact_edited": N_("Corrected a contact"),
            "identity_verified": N_("Recorded an identity check"),
            "email_contact_received": N_("Email received"),
            "chatbot_contact_received": N_("Chat received from the chatbot"),
            "unlinked_contacts_searched": N_("Searched the unidentified contacts"),
            "handover_closed": N_("Closed a chatbot handover"),
            "handover_claimed": N_("Claimed a chatbot handover"),
            "handover_assigned": N_("Assigned a chatbot handover"),
            "handover_released": N_("Released a chatbot handover"),
        },
    ),
    ActionGroup(
        "recordings",
        N_("Calls and recordings"),
        {
            "call_registered": N_("Call registered by the PBX"),
            "call_event_received": N_("Live call event from the PBX"),
            "screen_pop_shown": N_("Screen pop shown for a call"),
            "recent_calls_viewed": N_("Viewed own recent calls"),
            "recording_stored": N_("Recording stored"),
            "recording_viewed": N_("Viewed a recording"),
            "recording_played": N_("Played a recording"),
            "recording_downloaded": N_("Downloaded a recording"),
            "hold_placed": N_("Placed a hold on a recording"),
            "hold_released": N_("Released a hold"),
            "hold_expired": N_("Hold expired"),
        },
    ),
    ActionGroup(
        "retention",
        N_("Retention and keys"),
        {
            "recording_purged": N_("Recording purged"),
            "recording_audio_missing": N_("Recording's audio found missing"),
            "orphan_file_purged": N_("Stray audio file deleted"),
            "data_retention_applied": N_("Old data removed by retention"),
            "key_rotation_started": N_("Key rotation started"),
            "key_rotation_finished": N_("Key rotation finished"),
            "key_version_retired": N_("Key version retired"),
        },
    ),
    ActionGroup(
        "privacy",
        N_("Privacy requests"),
        {
            "personal_data_reviewed": N_("Reviewed everything held about a person"),
            "privacy_request_registered": N_("Registered a privacy request"),
            "privacy_request_viewed": N_("Viewed a privacy request"),
            "privacy_queue_viewed": N_("Viewed the privacy request queue"),
            "privacy_request_started": N_("Started a privacy request"),
            "privacy_request_extended": N_("Extended a privacy request's deadline"),
            "privacy_request_completed": N_("Completed a privacy request"),
            "privacy_request_refused": N_("Refused a privacy request"),
            "privacy_export_requested": N_("Asked for a data download"),
            "privacy_export_built": N_("Data download built"),
            "privacy_export_downloaded": N_("Downloaded a data download"),
            "privacy_export_deleted": N_("Data download deleted"),
            "privacy_erasure_started": N_("Started an erasure"),
            "privacy_erasure_completed": N_("Erasure completed"),
            "customer_restricted": N_("Restricted a customer's processing"),
            "customer_restriction_lifted": N_("Lifted a customer's restriction"),
            "customer_objection_recorded": N_("Recorded an objection"),
            "customer_objection_withdrawn": N_("Withdrew an objection"),
        },
    ),
    ActionGroup(
        "integrations",
        N_("Integrations"),
        {
            "integration_token_created": N_("Created an integration token"),
            "integration_token_revoked": N_("Revoked an integration token"),
            "webhook_secret_created": N_("Created a webhook secret"),
            "webhook_secret_retired": N_("Retired a webhook secret"),
            "marketing_feed_read": N_("Marketing feed read"),
        },
    ),
    ActionGroup(
        "oversight",
        N_("Oversight"),
        {
            "audit_viewed": N_("Viewed the audit trail"),
            "audit_trail_exported": N_("Downloaded the audit trail"),
            "statistics_viewed": N_("Viewed the statistics"),
            "statistics_downloaded": N_("Downloaded the statistics"),
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
    "customer": N_("customer"),
    "contact": N_("contact"),
    "call": N_("call"),
    "recording": N_("recording"),
    "email": N_("email"),
    "staff": N_("staff member"),
    "staff_change_request": N_("staff change request"),
    "privacy_request": N_("privacy request"),
    "privacy_export": N_("data download"),
    "privacy_queue": N_("privacy request queue"),
    "key_rotation": N_("key rotation"),
    "retention_receipt": N_("retention receipt"),
    "storage_file": N_("stored file"),
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
        return N_("job")
    if label == "cli" or label.startswith("cli:"):
        return N_("command line")
    if label == "unknown":
        return N_("someone not signed in")
    return label
