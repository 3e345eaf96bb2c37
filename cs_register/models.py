"""One import that registers every table on `Base.metadata` (Alembic and tests use it)."""

from cs_register.audit import models as audit_models
from cs_register.consents import models as consent_models
from cs_register.contacts import models as contact_models
from cs_register.customers import models as customer_models
from cs_register.intake import email_models
from cs_register.intake import models as intake_models
from cs_register.integrations import models as integration_models
from cs_register.privacy import models as privacy_models
from cs_register.staff import models as staff_models
from cs_register.statistics import models as statistics_models
from recordings import key_rotation as key_rotation_models
from recordings import models as recording_models

ALL_MODEL_MODULES = (
    staff_models,
    customer_models,
    contact_models,
    audit_models,
    integration_models,
    recording_models,
    email_models,
    intake_models,
    privacy_models,
    consent_models,
    statistics_models,
    key_rotation_models,
)
