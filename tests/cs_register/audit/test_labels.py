"""Every audit action has a label, in exactly one group of the trail's filter."""

from __future__ import annotations

from collections import Counter

from cs_register.audit.labels import ACTION_GROUPS, VIEW_ACTIONS, action_label
from cs_register.audit.models import AuditAction


def test_every_action_has_a_label():
    labelled = {value for group in ACTION_GROUPS for value in group.labels}
    missing = sorted(action.name for action in AuditAction if action.value not in labelled)
    assert missing == [], f"give these a label in cs_register/audit/labels.py: {missing}"


def test_every_action_is_in_exactly_one_group():
    counts = Counter(value for group in ACTION_GROUPS for value in group.labels)
    assert [value for value, count in counts.items() if count > 1] == []
    assert sum(len(group.actions()) for group in ACTION_GROUPS) == len(AuditAction)


def test_labels_are_words_and_distinct():
    labels = [action_label(action) for action in AuditAction]
    assert len(set(labels)) == len(labels)
    assert all(label[0].isupper() and "_" not in label for label in labels)


def test_the_collapsed_views_are_labelled_actions():
    labelled = {value for group in ACTION_GROUPS for value in group.labels}
    assert VIEW_ACTIONS - labelled == set()
