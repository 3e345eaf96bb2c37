"""Each staff member's console language (Finnish, Swedish or English).

A personal preference, like a screen layout: it changes what the console looks like to that
person only and touches nobody's data, so it is not an audited action.
"""

from __future__ import annotations

from cs_register.context import Context
from cs_register.errors import ValidationFailed
from cs_register.languages import LANGUAGES, N_
from cs_register.staff.models import StaffUser

# The choice that follows the deployment's DEFAULT_LANGUAGE instead of naming one.
DEPLOYMENT_DEFAULT = ""


def choose_language(ctx: Context, user: StaffUser, language: str) -> None:
    """Set `user`'s console language; `DEPLOYMENT_DEFAULT` goes back to the deployment's."""
    if language != DEPLOYMENT_DEFAULT and language not in LANGUAGES:
        raise ValidationFailed({"language": [N_("Choose one of the languages listed.")]})
    user.language = language or None
    ctx.session.flush()
