"""The console's frame for keyboard and screen-reader users: a skip link to the main content,
and the main navigation saying which page is shown."""

from __future__ import annotations

import re

import pytest


@pytest.mark.parametrize(
    ("role", "path", "current"),
    [
        ("agent", "/customers", "/customers"),
        ("agent", "/contacts/new", "/contacts/new"),
        ("agent", "/contacts/unlinked", "/contacts/unlinked"),
        ("supervisor", "/holds", "/holds"),
        ("supervisor", "/recordings", "/recordings"),
        ("admin", "/admin/staff", "/admin/staff"),
    ],
)
def test_the_navigation_marks_the_page_shown_and_only_it(client, logged_in, role, path, current):
    logged_in(role)
    page = client.get(path)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    nav = html[html.index('<nav class="mainnav"') : html.index("</nav>")]
    marked = re.findall(r'<a href="([^"]+)" aria-current="page">', nav)
    assert marked == [current]


def test_a_page_outside_the_navigation_marks_nothing(client, logged_in, make_customer):
    customer = make_customer()
    logged_in("agent")
    html = client.get(f"/customers/{customer.public_id}").get_data(as_text=True)
    assert 'aria-current="page"' not in html


def test_the_first_link_skips_to_the_main_content(client, logged_in):
    logged_in("agent")
    html = client.get("/customers").get_data(as_text=True)
    body = html[html.index("<body>") :]
    first_link = re.search(r"<a [^>]*>", body)
    assert first_link is not None
    assert 'href="#main"' in first_link.group(0)
    assert '<main class="page" id="main" tabindex="-1">' in html


def test_the_login_page_has_the_skip_link_too(client):
    html = client.get("/login").get_data(as_text=True)
    assert 'class="skip-link" href="#main"' in html


def test_a_refused_forms_summary_links_each_message_to_its_field(client, logged_in):
    logged_in("agent")
    page = client.post(
        "/customers/new",
        data={"given_names": "", "family_name": "Laine", "email": "not-an-email"},
    )
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    summary = html[
        html.index('id="error-summary"') : html.index("</ul>", html.index("error-summary"))
    ]
    targets = re.findall(r'<a href="#([a-z_]+)">', summary)
    assert targets, summary
    for target in targets:
        assert f'id="{target}"' in html, target
