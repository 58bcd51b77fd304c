"""Every dashboard page in Debian's Chromium on a small demo dataset: opens without script errors, the period
filter changes the URL and the numbers, a table sorts, CSV export downloads what is shown, a client opens.
Screenshots of every page (laptop and phone widths) land in screenshots/ (gitignored) to look at."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from tests.test_browser import CHROMIUM, PASSWORD, browser  # noqa: F401  (fixture)

SHOTS = Path(__file__).resolve().parent.parent / "screenshots"
PAGES = ["/", "/overview/", "/clients/", "/interventions/", "/coaches/", "/sales-pipeline/",
         "/setter-activity-today/", "/sales-coach-tracker/", "/marketing-intelligence/", "/money-map/",
         "/meta-dashboard/", "/attribution/", "/deep-intel/", "/stripe/", "/data/"]
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed")


@pytest.fixture
def demo_world(transactional_db, workspace, make_user):
    """30 demo clients over 90 days, scored today, with interventions and coach snapshots."""
    from clients.coach_tasks import build_coach_snapshots
    from clients.health import score_health
    from clients.intervention_tasks import open_interventions
    from ptd.demo import loader

    today = timezone.localdate()
    loader.load(workspace_id=workspace.pk, clients=30, days=90, seed=5, end=today)
    for day in (today - timedelta(days=7), today):
        score_health(workspace=workspace, day=day)
    open_interventions()
    build_coach_snapshots()
    make_user(workspace, "admin", username="pages-admin")
    return workspace


def _sign_in(page, base):
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", "pages-admin")
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(f"{base}/")


def _settled(page):
    page.wait_for_load_state("networkidle")


def test_every_page_as_admin(demo_world, live_server, browser):  # noqa: F811  (data before the browser loop)
    SHOTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(f"{msg.text} {msg.location.get('url', '')}")
            if msg.type == "error" else None)
    base = live_server.url
    _sign_in(page, base)

    for path in PAGES:
        response = page.goto(base + path)
        assert response.status == 200, path
        _settled(page)
        name = path.strip("/").replace("/", "_") or "executive"
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        # Every chart fits a phone's width (Plotly redraws it a moment after the resize).
        page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot .main-svg')].every("
                               "el => el.getBoundingClientRect().right <= window.innerWidth + 1)", timeout=5000)
        page.screenshot(path=str(SHOTS / f"{name}-phone.png"), full_page=True)
        page.set_viewport_size({"width": 1366, "height": 900})

    # The period filter: choosing one reloads the page with it in the URL.
    page.goto(base + "/sales-pipeline/")
    page.select_option("#period-select", "last_7_days")
    page.wait_for_url("**period=last_7_days**")
    _settled(page)

    # Sorting a table re-renders just that table and keeps the sort in the address bar.
    page.goto(base + "/clients/")
    _settled(page)
    header = page.locator("table thead th a[data-sort-key]").nth(1)
    key = header.get_attribute("data-sort-key")
    header.click()
    page.wait_for_url(f"**-sort=*{key}**")
    _settled(page)
    assert page.locator("th[aria-sort]").count() == 1

    # CSV export of exactly the rows shown.
    shown = page.locator("table tbody tr").count()
    with page.expect_download() as download:
        page.locator("a[data-export]").first.click()
    lines = Path(download.value.path()).read_text(encoding="utf-8").strip().splitlines()
    assert len(lines) == shown + 1  # header + the rows on the page

    # Open a client from the list.
    page.locator("table tbody a[href^='/clients/']").first.click()
    page.wait_for_url("**/clients/*/")
    _settled(page)
    page.screenshot(path=str(SHOTS / "client.png"), full_page=True)
    assert page.locator("h1").inner_text().strip()

    # Django's live server speaks WSGI, so the live-update socket is refused here (tests/test_live_e2e.py runs
    # the real ASGI server); any other error fails the test.
    assert [e for e in errors if "/ws/live/" not in e] == [], errors
