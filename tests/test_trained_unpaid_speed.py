"""The faster trained-but-unpaid and subscription reads of /stripe/ (issue 6) give exactly what the previous
queries gave: the same count, the same table rows in the same order, the same MRR and subscription count, on
data built around every edge of the definitions; and a full page groups a period's sessions only once."""

import random
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.db.models import CharField, F, Max, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Cast, Concat
from django.test.utils import CaptureQueriesContext

from clients.models import Contact, TrainingSession
from finance.metrics import (monthly_minor, subscription_figures, subscriptions_live_at_end, trained_but_unpaid,
                             trained_but_unpaid_contacts)
from finance.models import Payment, Subscription, SubscriptionStatus
from finance.selectors import _person, _url_of, trained_unpaid_rows_for
from ptd.periods import resolve_period
from ptd.scoping import Scope
from ptd.tables import Table

DUBAI = ZoneInfo("Asia/Dubai")
NOV = {"period": "custom", "from": "2026-11-01", "to": "2026-11-30"}
PERIODS = [resolve_period("custom", today=date(2026, 11, 30), tz=DUBAI, date_from=a, date_to=b)
           for a, b in [("2026-11-01", "2026-11-30"), ("2026-10-01", "2026-10-31"), ("2026-11-10", "2026-11-10"),
                        ("2026-09-01", "2026-11-30")]]


def at(year, month, day):
    return datetime(year, month, day, tzinfo=DUBAI)


# ---- the previous reads, kept here as the reference ----

def old_rows(access, period):
    last_paid = (Payment.objects.filter(workspace=access.workspace, contact_id=OuterRef("contact_id"),
                                        status__in=Payment.COLLECTED_STATUSES, created__lt=period.end)
                 .order_by().values("contact_id").annotate(at=Max("created")).values("at"))
    return list(trained_but_unpaid_contacts(period, access).annotate(
        client=_person("contact__"), ref=Concat(Value("#"), Cast("contact_id", CharField())),
        coach_name=F("contact__coach__name"), url=_url_of("client-detail", "contact_id"),
        last_paid=Subquery(last_paid),
    ).values("contact_id", "client", "ref", "url", "coach_name", "sessions", "last_session", "last_paid")
        .order_by(F("sessions").desc(nulls_last=True), "contact_id"))


def old_subscriptions(access, period):
    live = subscriptions_live_at_end(period, access)
    plans = (live.filter(currency="AED").exclude(status=SubscriptionStatus.TRIALING)
             .values("interval", "interval_count").order_by().annotate(total=Sum("amount_minor")))
    return live.count(), sum((monthly_minor(p["total"], p["interval"], p["interval_count"]) for p in plans),
                             Decimal(0))


# ---- data on the edges ----

@pytest.fixture
def books(workspace, other_workspace, make_staff, make_user):
    """Forty contacts (a few without a coach) with attended, no-show and cancelled sessions and payments of every
    status scattered from June to December 2026, many on the first or last minute of a period or of its 90-day
    window; subscriptions of every status, interval and currency; and a contact of another workspace who trained."""
    rng = random.Random(6)
    coaches = [make_staff(workspace, "coach", name=n) for n in ("Dana", "Eli")]
    contacts = [Contact.objects.create(workspace=workspace, first_name=f"C{i:02d}", last_name=rng.choice(["", "X"]),
                                       coach=rng.choice([*coaches, None]), created_at=at(2026, 1, 5))
                for i in range(40)]
    edges = [at(2026, 11, 1), at(2026, 12, 1) - timedelta(minutes=1), at(2026, 12, 1),
             at(2026, 10, 1), at(2026, 11, 1) - timedelta(minutes=1), at(2026, 9, 2),
             at(2026, 9, 2) - timedelta(minutes=1), at(2026, 8, 3), at(2026, 8, 2),
             at(2026, 11, 10), at(2026, 11, 11) - timedelta(seconds=1)]

    def when():
        return rng.choice(edges) if rng.random() < 0.4 else at(2026, 6, 1) + timedelta(
            minutes=rng.randrange(0, 60 * 24 * 200))

    n = 0
    for person in contacts:
        for _ in range(rng.randrange(0, 9)):
            n += 1
            TrainingSession.objects.create(workspace=workspace, source_id=f"s{n}", contact=person, coach=person.coach,
                                           starts_at=when(), status=rng.choice(["attended"] * 4 + ["no_show",
                                                                                                   "cancelled"]))
        for _ in range(rng.randrange(0, 4)):
            n += 1
            Payment.objects.create(workspace=workspace, stripe_id=f"ch{n}", contact=person, amount_minor=1000,
                                   created=when(), status=rng.choice(["succeeded", "refunded", "partially_refunded",
                                                                      "failed", "pending", "canceled"]),
                                   amount_refunded_minor=0)
    stranger = Contact.objects.create(workspace=other_workspace, first_name="Elsewhere", created_at=at(2026, 1, 5))
    TrainingSession.objects.create(workspace=other_workspace, source_id="x1", contact=stranger,
                                   starts_at=at(2026, 11, 5), status="attended")
    Payment.objects.create(workspace=other_workspace, stripe_id="chx", contact=contacts[0], amount_minor=1,
                           created=at(2026, 11, 5), status="succeeded")  # another workspace's payment
    for i in range(30):
        Subscription.objects.create(
            workspace=workspace, stripe_id=f"sub{i}", created=when(), amount_minor=rng.randrange(0, 50000),
            status=rng.choice(list(SubscriptionStatus.values)), interval=rng.choice(["day", "week", "month", "year"]),
            interval_count=rng.choice([1, 1, 2, 3]), currency=rng.choice(["AED", "AED", "USD"]),
            ended_at=rng.choice([None, when()]))
    return {"admin": make_user(workspace, "admin"), "viewer": make_user(workspace, "viewer")}


def scope(user, *, per_request=False):
    return Scope.of(user.memberships.select_related("workspace").get(), per_request=per_request)


# ---- old == new ----

@pytest.mark.django_db
@pytest.mark.parametrize("role", ["admin", "viewer"])
def test_trained_unpaid_count_and_rows_equal_the_previous_queries(books, rf, role):
    for period in PERIODS:
        access = scope(books[role], per_request=True)
        old = old_rows(access, period)
        assert trained_but_unpaid(period, access) == len(old), period
        request = rf.get("/stripe/")
        request.access = access
        table = Table(request, name="trained-unpaid", rows=trained_unpaid_rows_for(access, period),
                      default_sort="-sessions", tiebreak="contact_id", columns=[], per_page=1000)
        assert list(table.page.object_list) == old, period  # same rows, same order
    assert any(old_rows(scope(books["admin"]), p) for p in PERIODS)  # the data does reach the edges


@pytest.mark.django_db
def test_subscription_figures_equal_the_previous_queries(books):
    access = scope(books["admin"])
    for period in PERIODS:
        assert subscription_figures(access, period) == old_subscriptions(access, period), period


# ---- one grouping of a period's sessions per page ----

@pytest.mark.django_db
def test_full_page_groups_each_period_of_sessions_once(books, client_for):
    admin = client_for(books["admin"])
    admin.get("/stripe/", NOV)  # session and content-type caches
    with CaptureQueriesContext(connection) as page:
        html = admin.get("/stripe/", NOV).content.decode()
    grouped = [q["sql"] for q in page.captured_queries if 'FROM "clients_trainingsession"' in q["sql"]]
    assert len(grouped) == 1  # November, the card's and the table's; October's card counts from AttendedMonth
    assert 'id="trained-unpaid-table"' in html
