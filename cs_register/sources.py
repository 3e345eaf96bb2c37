"""The personal-data registry of this deployment: every package's source, in asking order.

Built once for the web app (`create_app`) and once per job that needs it (the data-subject
export), from the same runtime, so a job sees exactly the sources the console does. The audit
trail comes last: it looks for events about what the others found.
"""

from __future__ import annotations

from cs_register.audit.personal_data import AuditRecords
from cs_register.consents.personal_data import ChoiceRecords
from cs_register.contacts.personal_data import ContactRecords
from cs_register.customers.personal_data import CustomerRecords
from cs_register.intake.personal_data import IntakeRecords
from cs_register.personal_data import PersonalDataRegistry
from cs_register.privacy.personal_data import PrivacyRequestRecords
from cs_register.runtime import Runtime
from cs_register.staff.personal_data import StaffRecords
from recordings.personal_data import RecordingRecords


def build_registry(runtime: Runtime) -> PersonalDataRegistry:
    return PersonalDataRegistry(
        sources=[
            CustomerRecords(runtime.keyring),
            ContactRecords(),
            ChoiceRecords(),
            IntakeRecords(),
            RecordingRecords(runtime.storage, runtime.retention),
            StaffRecords(),
            PrivacyRequestRecords(runtime.exports),
            AuditRecords(),
        ]
    )
