"""The append-only audit trail: who did or saw what, when, written in the same transaction as
the change it describes (`record(ctx, ...)`)."""

from cs_register.audit.services import record as record
from cs_register.audit.services import record_many as record_many
