"""The app's parts the privacy pages and commands need, read from the running app."""

from __future__ import annotations

from datetime import timedelta

from cs_register import personal_data
from cs_register.privacy.export import ExportInputs, ExportStorage
from cs_register.web import current_keyring, current_settings, shared


def current_export_storage() -> ExportStorage:
    return shared("exports")


def current_export_inputs() -> ExportInputs:
    settings = current_settings()
    return ExportInputs(
        registry=personal_data.registry(),
        keyring=current_keyring(),
        exports=current_export_storage(),
        retention=timedelta(days=settings.privacy_export_days),
    )
