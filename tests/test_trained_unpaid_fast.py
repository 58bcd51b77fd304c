"""/stripe/ without the prior period's sessions, without every client's name and with one read of the subscriptions
(issue 6): the trained-but-unpaid count read from the attended-months rollup equals the contacts of the sessions
for periods around every edge; the table, whose people are looked up for the shown page only (and the sorted
column for every row), shows what the previous full read showed under every sort, on every page and in its CSV;
the subscription figures of a period and its prior read together equal the previous queries; and each part of the
page reads only what it shows."""

import csv
import io
import re
from datetime import date
from functools import partial

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from finance.metrics import (subscription_figures, subscription_figures_with_prior, trained_but_unpaid_contacts,
                             trained_unpaid_count)
from finance.views import StripePage
from ptd.metrics import kpi
from ptd.periods import resolve_period
from ptd.tables import Table
from tests.test_trained_unpaid_speed import (DUBAI, NOV, PERIODS, books, old_rows, old_subscriptions,  # noqa: F401
                                             scope)

# Single days on the edges of the fixture's sessions and payments, whole months, a month across a year's end, and
# windows across month boundaries (the rollup reads a row per client and month, masked to the period's days).
EDGES = [("2026-11-01", "2026-11-01"), ("2026-11-30", "2026-11-30"), ("2026-12-01", "2026-12-01"),
         ("2026-10-31", "2026-11-01"), ("2026-08-02", "2026-08-03"), ("2026-09-02", "2026-09-02"),
         ("2026-06-01", "2026-12-31"), ("2026-10-28", "2026-11-26"), ("2026-12-15", "2027-01-15")]
MORE_PERIODS = [resolve_period("custom", today=date(2027, 1, 31), tz=DUBAI, date_from=a, date_to=b) for a, b in EDGES]
SORTS = ["", "client", "-client", "coach_name", "-coach_name", "last_paid", "-last_paid", "last_session",
         "-last_session", "ref", "-ref", "sessions", "-sessions"]


@pytest.fixture
def five_a_page(monkeypatch):
    """The page's tables hold 5 rows a page, so the fixture's clients fill several."""
    monkeypatch.setattr("finance.views.Table", partial(Table, per_page=5))


def page_for(rf, access, period, **params):
    request = rf.get("/stripe/", {k.replace("_", "-"): v for k, v in params.items()})
    request.access, request.htmx = access, False
    return StripePage(request, period)


def reference_table(rf, access, period, columns, **params):
    """The table as it was: every row read with its person, sorted and paged by ptd.tables."""
    request = rf.get("/stripe/", {k.replace("_", "-"): v for k, v in params.items()})
    request.access = access
    return Table(request, name="trained-unpaid", rows=sorted(old_rows(access, period), key=lambda r: r["contact_id"]),
                 default_sort="-sessions", tiebreak="contact_id", columns=columns, per_page=5)


def looked_up(queries, table: str) -> list[int]:
    """How many contact ids each lookup in `table` by id was given (their array parameter)."""
    return [len(re.search(r"unnest\('\{([0-9,]*)\}'", q["sql"]).group(1).split(",")) for q in queries
            if f'FROM "{table}"' in q["sql"] and "unnest" in q["sql"]]


def reads(queries, table: str) -> int:
    return sum(f'FROM "{table}"' in q["sql"] for q in queries)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["admin", "viewer"])
def test_count_from_the_rollup_equals_the_contacts_of_the_sessions(books, role):  # noqa: F811
    access = scope(books[role])
    counts = []
    for period in [*PERIODS, *MORE_PERIODS]:
        counts.append(trained_unpaid_count(period, access))
        assert counts[-1] == trained_but_unpaid_contacts(period, access).count(), period
    assert len(set(counts)) > 3  # the periods do tell the contacts apart


@pytest.mark.django_db
def test_the_card_counts_the_same_with_or_without_the_tables_contacts(books, rf):  # noqa: F811
    for period in PERIODS:
        expected = len(old_rows(scope(books["admin"]), period)), len(old_rows(scope(books["admin"]), period.prior()))
        alone = kpi("trained_but_unpaid", period, scope(books["admin"], per_request=True))
        shared = scope(books["admin"], per_request=True)
        assert page_for(rf, shared, period).trained_unpaid.total == expected[0]  # the table first, as on the page
        after_table = kpi("trained_but_unpaid", period, shared)
        assert (alone.value, alone.prior) == (after_table.value, after_table.prior) == expected, period


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["admin", "viewer"])
def test_every_sort_and_page_shows_what_the_full_read_showed(books, rf, role, five_a_page):  # noqa: F811
    period = PERIODS[0]
    columns = page_for(rf, scope(books[role]), period).trained_unpaid.columns
    for sort in SORTS:
        pages = reference_table(rf, scope(books[role]), period, columns, trained_unpaid_sort=sort).page.paginator
        assert pages.num_pages > 2
        for number in (1, 2, pages.num_pages):
            wanted = {"trained_unpaid_sort": sort, "trained_unpaid_page": number}
            shown = page_for(rf, scope(books[role], per_request=True), period, **wanted).trained_unpaid
            expected = reference_table(rf, scope(books[role]), period, columns, **wanted)
            assert list(shown.page.object_list) == list(expected.page.object_list), (sort, number)
            assert shown.body == expected.body, (sort, number)


@pytest.mark.django_db
def test_csv_of_every_row_has_every_name(books, client_for, five_a_page):  # noqa: F811
    response = client_for(books["admin"]).get("/stripe/", {**NOV, "export": "trained-unpaid", "rows": "all"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    expected = old_rows(scope(books["admin"]), PERIODS[0])
    assert [(row[1], row[0], row[2]) for row in rows[1:]] == [
        (person["ref"], person["client"] or "", person["coach_name"] or "") for person in expected]


@pytest.mark.django_db
def test_each_part_reads_only_what_it_shows(books, client_for, five_a_page):  # noqa: F811
    admin = client_for(books["admin"])
    admin.get("/stripe/", NOV)  # session and content-type caches
    hx = {"HTTP_HX_REQUEST": "true"}
    with CaptureQueriesContext(connection) as page:
        html = admin.get("/stripe/", NOV).content.decode()
    # November's sessions once (the card counts the table's contacts), October's attenders from the rollup.
    assert reads(page.captured_queries, "clients_trainingsession") == 1
    assert reads(page.captured_queries, "clients_attendedmonth") == 1
    assert 'id="trained-unpaid-table"' in html
    # The shown clients' names, coaches and last payments only.
    assert looked_up(page.captured_queries, "clients_contact") == [5]
    assert looked_up(page.captured_queries, "finance_payment") == [5]
    assert reads(page.captured_queries, "finance_subscription") == 1  # both periods' MRR and subscriptions
    with CaptureQueriesContext(connection) as cards:
        admin.get("/stripe/", {**NOV, "partial": "stripe-kpis"}, **hx)
    assert reads(cards.captured_queries, "clients_trainingsession") == 0  # both periods counted from the rollup
    assert reads(cards.captured_queries, "clients_attendedmonth") == 2
    assert reads(cards.captured_queries, "finance_subscription") == 1
    with CaptureQueriesContext(connection) as table:
        admin.get("/stripe/", {**NOV, "partial": "trained-unpaid", "trained-unpaid-sort": "client"}, **hx)
    assert reads(table.captured_queries, "clients_trainingsession") == 1
    assert reads(table.captured_queries, "clients_attendedmonth") == 0
    # Every client's name to sort by, then the coach and last payment of the shown five.
    everyone = len(old_rows(scope(books["admin"]), PERIODS[0]))
    assert looked_up(table.captured_queries, "clients_contact") == [everyone, 5]
    assert looked_up(table.captured_queries, "finance_payment") == [5]


@pytest.mark.django_db
def test_subscription_figures_of_a_period_and_its_prior_read_together_equal_the_previous_queries(books):  # noqa: F811
    for period in [*PERIODS, *MORE_PERIODS]:
        access = scope(books["admin"], per_request=True)
        with CaptureQueriesContext(connection) as together:
            subscription_figures_with_prior(period, access)
            both = subscription_figures(access, period), subscription_figures(access, period.prior())
        assert reads(together.captured_queries, "finance_subscription") == 1
        assert both == (old_subscriptions(access, period), old_subscriptions(access, period.prior())), period
