"""Request-side access to the recordings machinery configured by the app factory."""

from __future__ import annotations

from flask import current_app

from recordings.retention import RetentionPolicy
from recordings.services import policy_from_settings
from recordings.storage import LocalStorage


def current_storage() -> LocalStorage:
    storage: LocalStorage = current_app.extensions["cs_register.storage"]
    return storage


def current_policy() -> RetentionPolicy:
    return policy_from_settings(current_app.extensions["cs_register.settings"])
