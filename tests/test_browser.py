"""End to end in Debian's Chromium: sign in through the real form, see the role's navigation and the
demo banner, sign out. Skipped when /usr/bin/chromium is missing (`make test` installs it)."""

import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium not installed")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", "--disable-quic"]
PASSWORD = "correct horse battery staple"


@pytest.fixture
def browser():
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield b
        b.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("role, sees, hidden", [
    ("admin", ["Your data", "Integrations", "Django admin"], []),
    ("coach", ["Your data"], ["Integrations", "Django admin"]),
])
def test_sign_in_and_navigation(live_server, browser, workspace, make_user, make_staff, role, sees, hidden):
    from clients.models import Contact

    coach = make_staff(workspace, "coach", name="Dana Coach")
    Contact.objects.create(workspace=workspace, coach=coach, created_at="2026-11-01T10:00:00+04:00", is_demo=True,
                           email_normalized="client@example.com")
    make_user(workspace, role, staff=coach if role == "coach" else None, username=f"e2e-{role}")

    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url
    page.fill("input[name=username]", f"e2e-{role}")
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    nav = page.locator("nav.sidenav").inner_text()
    for label in sees:
        assert label in nav
    for label in hidden:
        assert label not in nav
    assert page.locator(".demo-banner").is_visible()
    page.goto(f"{live_server.url}/data/")
    assert page.locator("#sources .source-count").first.inner_text() == "1"
    assert errors == []  # no script errors (CSP blocks inline scripts without the nonce)
    page.click(".logout-form button")
    page.wait_for_url(f"{live_server.url}/accounts/login/")
