"""Which prohibitions and consent purposes the deployment knows: the one place they are read.

The company names them in settings (`PROHIBITIONS`, `CONSENT_PURPOSES`: comma-separated names
such as `direct_marketing`); customer service records only those, so the marketing system
never meets a name it does not know. A name shows as its words ("Direct marketing").
"""

from __future__ import annotations

from dataclasses import dataclass

from cs_register.config import Settings
from cs_register.consents.models import ChoiceKind
from cs_register.languages import N_

# The default topics' words (`cs_register.config`), marked for the catalogs: pages show
# `label(topic)|translated`. A deployment's own topics show as written unless a catalog has them.
_DEFAULT_LABELS = {
    "direct_marketing": N_("Direct marketing"),
    "newsletter": N_("Newsletter"),
    "customer_surveys": N_("Customer surveys"),
}


def label(topic: str) -> str:
    return _DEFAULT_LABELS.get(topic) or topic.replace("_", " ").capitalize()


@dataclass(frozen=True)
class ChoiceTopics:
    prohibitions: tuple[str, ...]
    consent_purposes: tuple[str, ...]

    @classmethod
    def of_settings(cls, settings: Settings) -> ChoiceTopics:
        return cls(settings.prohibitions, settings.consent_purposes)

    def of(self, kind: ChoiceKind) -> tuple[str, ...]:
        return self.prohibitions if kind is ChoiceKind.PROHIBITION else self.consent_purposes

    def knows(self, kind: ChoiceKind, topic: str) -> bool:
        return topic in self.of(kind)
