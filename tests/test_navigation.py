"""Role-aware navigation (every role sees only what it may open) and the reporting periods with Asia/Dubai
day boundaries (ptd.periods is pure: no database for those tests)."""

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from ptd.navigation import ENTRIES, can_open, nav_for
from ptd.periods import PERIOD_KEYS, Period, PeriodError, resolve_period

DUBAI = ZoneInfo("Asia/Dubai")
ADMIN_ONLY_LABELS = {"Integrations", "Django admin", "API reference"}



# --- navigation -----------------------------------------------------------------------------------------------------


def _nav(response) -> dict[str, list[tuple[str, str]]]:
    return {group["label"]: [(i["label"], i["url"]) for i in group["items"]] for group in response.context["nav"]}


def _labels(nav) -> set[str]:
    return {label for items in nav.values() for label, _ in items}


@pytest.fixture
def user_for(workspace, make_user, make_staff):
    def make(role):
        staff = make_staff(workspace, role) if role in ("coach", "setter") else None
        return make_user(workspace, role, staff=staff)

    return make


@pytest.mark.django_db
def test_admin_navigation(user_for, client_for):
    response = client_for(user_for("admin")).get("/data/")
    nav = _nav(response)
    assert ("Executive", "/") in nav["Today"]
    assert ("Your data", "/data/") in nav["Settings"]
    assert ("Integrations", "/settings/") in nav["Settings"]
    assert ("Django admin", "/admin/") in nav["Settings"]
    assert ("API reference", "/api/docs/") in nav["Settings"]
    content = response.content.decode()
    assert '<a href="/settings/">Integrations</a>' in content
    assert '<a href="/admin/">Django admin</a>' in content
    # Groups appear in the fixed job order and none is empty.
    order = ["Today", "Clients", "Sales", "Marketing", "Money", "AI", "Settings"]
    assert list(nav) == [g for g in order if g in nav]
    assert all(nav.values())


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["coach", "setter", "viewer"])
def test_other_roles_do_not_see_admin_navigation(user_for, client_for, role):
    response = client_for(user_for(role)).get("/data/")
    assert response.status_code == 200
    nav = _nav(response)
    assert ("Your data", "/data/") in nav["Settings"]
    assert (("Executive", "/") in nav.get("Today", [])) is (role != "setter")  # setters have their own page
    assert not (_labels(nav) & ADMIN_ONLY_LABELS)
    assert [label for label, _ in nav["Settings"]] == ["Your data"]
    content = response.content.decode()
    assert 'href="/admin/"' not in content
    assert 'href="/settings/"' not in content
    assert response.context["role"] == role


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["admin", "coach", "setter", "viewer"])
def test_every_link_a_role_is_shown_opens_for_that_role(user_for, client_for, role):
    client = client_for(user_for(role))
    nav = _nav(client.get("/data/"))
    for label, url in (item for items in nav.values() for item in items):
        assert client.get(url).status_code == 200, (role, label, url)


@pytest.mark.django_db
def test_the_current_page_is_marked_active(user_for, client_for):
    client = client_for(user_for("admin"))
    active = {i["label"]: i["active"] for g in client.get("/settings/").context["nav"] for i in g["items"]}
    assert active["Integrations"] is True
    assert active["Executive"] is False  # "/" is active only on the executive page itself
    active = {i["label"]: i["active"] for g in client.get("/").context["nav"] for i in g["items"]}
    assert [label for label, on in active.items() if on] == ["Executive"]
    content = client.get("/settings/").content.decode()
    assert '<a href="/settings/" class="is-active" aria-current="page">Integrations</a>' in content


def test_nav_for_and_can_open_agree():
    for role in ("admin", "coach", "setter", "viewer"):
        shown = [item for group in nav_for(role, "/") for item in group["items"]]
        names = {e.label: e.url_name for e in ENTRIES}
        assert all(can_open(role, names[item["label"]]) for item in shown)
        assert len(shown) == sum(role in e.roles for e in ENTRIES)
    assert can_open("admin", "settings") is True
    assert can_open("coach", "settings") is False
    assert can_open("viewer", "admin:index") is False
    assert can_open("admin", "no-such-page") is False
    assert [i["active"] for g in nav_for("admin", "/admin/ptd/") for i in g["items"] if i["label"] == "Django admin"] == [True]


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["admin", "viewer", "coach", "setter"])
def test_money_and_spend_pages_only_for_admins_and_viewers(user_for, client_for, role):
    nav = _nav(client_for(user_for(role)).get("/data/"))
    money = {("Campaign money map", "/money-map/"), ("Attribution war room", "/attribution/"),
             ("Stripe intelligence", "/stripe/")}
    shown = {item for items in nav.values() for item in items}
    assert (money <= shown) is (role in ("admin", "viewer")) and (money & shown == set()) is (role in ("coach", "setter"))


# --- periods --------------------------------------------------------------------------------------------------------

TODAY = date(2026, 3, 15)  # a Sunday in the middle of March


def _resolve(key, today=TODAY, **kw) -> Period:
    return resolve_period(key, today=today, tz=DUBAI, **kw)


def _local_midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=DUBAI)


@pytest.mark.parametrize("key,first,last,days,label", [
    ("today", date(2026, 3, 15), date(2026, 3, 15), 1, "Today"),
    ("yesterday", date(2026, 3, 14), date(2026, 3, 14), 1, "Yesterday"),
    ("last_7_days", date(2026, 3, 9), date(2026, 3, 15), 7, "Last 7 days"),
    ("this_month", date(2026, 3, 1), date(2026, 3, 15), 15, "This month"),
    ("last_month", date(2026, 2, 1), date(2026, 2, 28), 28, "Last month"),
])
def test_named_periods(key, first, last, days, label):
    period = _resolve(key)
    assert (period.key, period.label, period.first_day, period.last_day, period.days) == (key, label, first, last, days)
    assert period.start == _local_midnight(first)
    assert period.end == _local_midnight(last + timedelta(days=1))  # exclusive: midnight after the last day
    assert period.start.tzinfo is DUBAI and period.end.tzinfo is DUBAI
    assert period.start.utcoffset() == timedelta(hours=4)
    assert period.end - period.start == timedelta(days=days)
    assert period.custom_from == "" and period.custom_to == ""


def test_dubai_day_boundaries_in_utc():
    period = _resolve("today")
    # Dubai midnight is 20:00 UTC the day before.
    assert period.start.astimezone(timezone.utc) == datetime(2026, 3, 14, 20, 0, tzinfo=timezone.utc)
    assert period.end.astimezone(timezone.utc) == datetime(2026, 3, 15, 20, 0, tzinfo=timezone.utc)
    inside = [datetime(2026, 3, 14, 20, 0, tzinfo=timezone.utc), datetime(2026, 3, 15, 19, 59, 59, tzinfo=timezone.utc)]
    outside = [datetime(2026, 3, 14, 19, 59, 59, tzinfo=timezone.utc), datetime(2026, 3, 15, 20, 0, tzinfo=timezone.utc)]
    assert all(period.start <= t < period.end for t in inside)
    assert not any(period.start <= t < period.end for t in outside)


@pytest.mark.parametrize("key", ["today", "yesterday", "last_7_days", "last_30_days", "this_month", "last_month"])
def test_prior_period_is_equal_length_and_ends_where_the_period_starts(key):
    period = _resolve(key)
    prior = period.prior()
    assert prior.days == period.days
    assert prior.end == period.start
    assert prior.last_day == period.first_day - timedelta(days=1)
    assert prior.end - prior.start == period.end - period.start


def test_prior_periods_concretely():
    assert (_resolve("last_7_days").prior().first_day, _resolve("last_7_days").prior().last_day) == (
        date(2026, 3, 2), date(2026, 3, 8))
    # The prior of "last month" (28 days of February) is the 28 days before it, not January.
    prior = _resolve("last_month").prior()
    assert (prior.first_day, prior.last_day) == (date(2026, 1, 4), date(2026, 1, 31))
    prior = _resolve("this_month").prior()
    assert (prior.first_day, prior.last_day, prior.days) == (date(2026, 2, 14), date(2026, 2, 28), 15)


def test_month_edges():
    assert (_resolve("last_month", today=date(2026, 1, 10)).first_day,
            _resolve("last_month", today=date(2026, 1, 10)).last_day) == (date(2025, 12, 1), date(2025, 12, 31))
    first_of_month = _resolve("this_month", today=date(2026, 4, 1))
    assert (first_of_month.first_day, first_of_month.last_day, first_of_month.days) == (date(2026, 4, 1),) * 2 + (1,)
    leap = _resolve("last_month", today=date(2028, 3, 3))
    assert (leap.last_day, leap.days) == (date(2028, 2, 29), 29)
    assert _resolve("yesterday", today=date(2026, 1, 1)).first_day == date(2025, 12, 31)


def test_default_period_is_last_30_days():
    period = _resolve(None)
    assert (period.key, period.first_day, period.last_day, period.days) == (
        "last_30_days", date(2026, 2, 14), date(2026, 3, 15), 30)
    assert _resolve("").key == "last_30_days"


def test_custom_period():
    period = _resolve("custom", date_from="2026-02-10", date_to="2026-02-20")
    assert (period.first_day, period.last_day, period.days) == (date(2026, 2, 10), date(2026, 2, 20), 11)
    assert period.start == _local_midnight(date(2026, 2, 10))
    assert period.end == _local_midnight(date(2026, 2, 21))
    assert (period.custom_from, period.custom_to) == ("2026-02-10", "2026-02-20")
    prior = period.prior()
    assert (prior.first_day, prior.last_day) == (date(2026, 1, 30), date(2026, 2, 9))
    one_day = _resolve("custom", date_from="2026-02-10", date_to="2026-02-10")
    assert one_day.days == 1


def test_custom_period_with_to_before_from_is_an_error():
    with pytest.raises(PeriodError, match="'to' date must not be before its 'from' date"):
        _resolve("custom", date_from="2026-02-20", date_to="2026-02-10")


@pytest.mark.parametrize("date_from,date_to", [("", ""), ("2026-02-10", ""), ("10/02/2026", "2026-02-20"),
                                               ("2026-02-30", "2026-03-01")])
def test_custom_period_needs_two_iso_dates(date_from, date_to):
    with pytest.raises(PeriodError, match="YYYY-MM-DD"):
        _resolve("custom", date_from=date_from, date_to=date_to)


def test_custom_period_is_limited_to_five_years():
    assert _resolve("custom", date_from="2021-01-01", date_to="2025-12-31").days == 1826
    with pytest.raises(PeriodError, match="five years"):
        _resolve("custom", date_from="2019-01-01", date_to="2026-01-01")


def test_unknown_period_names_the_valid_keys():
    with pytest.raises(PeriodError) as excinfo:
        _resolve("last_week")
    message = str(excinfo.value)
    assert "'last_week'" in message
    for key in ("today", "yesterday", "last_7_days", "this_month", "last_month", "custom"):
        assert key in message
    assert all(key in message for key in PERIOD_KEYS)
    assert isinstance(excinfo.value, ValueError)  # views can treat it as bad input


def test_day_boundaries_follow_the_workspace_timezone_across_dst():
    london = ZoneInfo("Europe/London")
    period = resolve_period("last_7_days", today=date(2026, 3, 31), tz=london)  # BST starts 29 March
    assert period.start.utcoffset() == timedelta(0)
    assert period.end.utcoffset() == timedelta(hours=1)
    # Seven local days, one of them 23 hours long.
    assert period.end.astimezone(timezone.utc) - period.start.astimezone(timezone.utc) == timedelta(days=7, hours=-1)


@pytest.mark.django_db
def test_request_period_reads_the_url_in_the_workspace_timezone(rf, workspace):
    from ptd.context_processors import request_period

    request = rf.get("/", {"period": "custom", "from": "2026-01-01", "to": "2026-01-31"})
    request.workspace = workspace
    period = request_period(request)
    assert (period.first_day, period.last_day, period.days) == (date(2026, 1, 1), date(2026, 1, 31), 31)
    assert period.start.utcoffset() == timedelta(hours=4)

    request = rf.get("/", {"period": "fortnight"})
    request.workspace = workspace
    with pytest.raises(PeriodError):
        request_period(request)
