"""The app's parts the privacy pages and commands need, read from the running app."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app

from cs_register import personal_data
from cs_register.privacy.export import ExportInputs, ExportStorage


def current_export_storage() -> ExportStorage:
    storage: ExportStorage = current_app.extensions["cs_register.exports"]
    return storage


def current_export_inputs() -> ExportInputs:
    settings = current_app.extensions["cs_register.settings"]
    return ExportInputs(
        registry=personal_data.registry(),
        keyring=current_app.extensions["cs_register.keyring"],
        exports=current_export_storage(),
        retention=timedelta(days=settings.privacy_export_days),
    )
