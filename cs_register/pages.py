"""Registration seams: how one package's page shows what another package holds.

The contact page shows the call's recording (recordings) and the email or chat behind it
(intake); the customer page shows the contact timeline (contacts) with links to recordings.
The page's own package must not import those packages (they sit above it), so each of them
registers a *provider* here, and `create_app` wires them. A provider gets the page's objects
and returns its part (rendered HTML, or a mapping), or None when it has nothing to show.

A page can also be *rendered* by another package (a failed recording upload re-shows the
contact page with the upload's errors) through `render`, without importing its views.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app, render_template
from markupsafe import Markup

# Panels of the contact page: (session, contact, now, extra) -> Markup | None
CONTACT_PAGE_PANELS = "contact_page_panels"
# Panels of the customer page: (session, customer, now) -> Markup | None
CUSTOMER_PAGE_PANELS = "customer_page_panels"
# Per-contact notes in a customer's timeline: (session, contact_ids, now) -> {id: Markup}
CONTACT_TIMELINE_NOTES = "contact_timeline_notes"
# The contact page itself: (public_id, *, errors, values, extra, status) -> response
CONTACT_PAGE = "contact_page"
# Who contacts came from, in bulk (the unidentified queue, the link form, the customer page's
# offer): (session, contact_ids) -> {contact_id: [ContactOrigin, ...]}
CONTACT_ORIGINS = "contact_origins"
# Which unlinked contacts came from a phone number or an email address: (kind, normalised
# value) -> a SELECT of contact ids, or None when the source holds nothing of that kind
CONTACTS_FROM = "contacts_from"

_EXTENSION = "cs_register.pages"


@dataclass(frozen=True)
class ContactOrigin:
    """Who a contact came from, as the channel's own rows say: `kind` is "phone" or "email",
    `display` what the console shows ("withheld" for a hidden number), `value` the normalised
    identifier to match customers with (None when there is nothing to match)."""

    kind: str
    display: str
    value: str | None


@dataclass
class _Seams:
    providers: dict[str, list[Callable[..., Any]]] = field(default_factory=dict)
    renderers: dict[str, Callable[..., Any]] = field(default_factory=dict)


def _seams(app: Flask | None = None) -> _Seams:
    target = app if app is not None else current_app
    seams: _Seams = target.extensions.setdefault(_EXTENSION, _Seams())
    return seams


def provide(app: Flask, seam: str, provider: Callable[..., Any]) -> None:
    """Register `provider` for `seam`; providers answer in the order they were registered."""
    _seams(app).providers.setdefault(seam, []).append(provider)


def collect(seam: str, *args: Any, **kwargs: Any) -> list[Any]:
    """Every registered provider's answer for `seam`, None answers left out."""
    answers = (provider(*args, **kwargs) for provider in _seams().providers.get(seam, ()))
    return [answer for answer in answers if answer is not None]


def set_renderer(app: Flask, page: str, renderer: Callable[..., Any]) -> None:
    _seams(app).renderers[page] = renderer


def render(page: str, *args: Any, **kwargs: Any) -> Any:
    """Render `page` through the renderer its package registered."""
    renderer = _seams().renderers.get(page)
    if renderer is None:
        raise LookupError(f"no renderer registered for {page!r}")
    return renderer(*args, **kwargs)


def render_panel(template: str, **context: Any) -> Markup:
    """A provider's part of a page, rendered from its own template.

    The template is autoescaped like every page, so its output is safe to place as is.
    """
    return Markup(render_template(template, **context))  # noqa: S704 - autoescaped output
