"""The shared table: sort, pages, CSV of exactly what is shown, PII columns hidden from viewers."""

import csv
import io
from decimal import Decimal

import pytest
from django.test import RequestFactory

from ptd.tables import Column, Table, export_csv

ROWS = [{"name": f"row {i:02d}", "amount": Decimal(i * 10), "url": f"/r/{i}/"} for i in range(1, 31)]
ROWS.append({"name": "=HYPERLINK(1)", "amount": None, "url": ""})
COLUMNS = [Column("name", "Name", link="url", pii=True), Column("amount", "Amount", kind="AED")]


class Access:
    def __init__(self, pii=True):
        self.can_see_pii = pii


def table(query="", pii=True, rows=ROWS):
    request = RequestFactory().get(f"/page/{query}")
    request.access = Access(pii)
    return request, Table(request, name="rows", columns=COLUMNS, rows=rows, default_sort="-amount", per_page=10)


def test_default_sort_pages_and_links():
    _, t = table()
    assert t.total == 31
    first = t.body[0]
    assert first[0].text == "row 30" and first[0].href == "/r/30/" and first[1].text == "AED 300"
    assert [h["aria_sort"] for h in t.headers] == ["", "descending"]
    assert t.headers[1]["url"] == "/page/?rows-sort=amount"  # clicking the active column flips it
    assert t.headers[0]["hx_url"] == "/page/?rows-sort=name&partial=rows"
    assert [p["number"] if p else None for p in t.pages] == [1, 2, 3, 4]


def test_sort_ascending_puts_unknown_values_last_and_unknown_keys_fall_back():
    _, t = table("?rows-sort=amount&rows-page=4&period=today")
    assert [c[1].text for c in t.body] == ["—"]  # the row without an amount is last
    assert t.next_link == {} and "period=today" in t.prev_link["url"]
    _, t = table("?rows-sort=bogus")
    assert t.sort == ("amount", True)


def test_csv_is_the_shown_page_or_all_rows_and_quotes_formulas():
    request, t = table("?rows-sort=name&export=rows")
    body = b"".join(export_csv(request, t).streaming_content).decode()
    lines = list(csv.reader(io.StringIO(body)))
    assert lines[0] == ["Name", "Amount (AED)"]
    assert lines[1] == ["'=HYPERLINK(1)", ""] and len(lines) == 11
    request, t = table("?rows-sort=name&export=rows&rows=all")
    assert len(list(csv.reader(io.StringIO(b"".join(export_csv(request, t).streaming_content).decode())))) == 32
    request, t = table("?export=other")
    assert export_csv(request, t) is None


def test_viewer_does_not_get_pii_columns():
    _, t = table(pii=False)
    assert [c.label for c in t.columns] == ["Amount"]


@pytest.mark.django_db
def test_queryset_rows_sort_in_sql(workspace, make_staff):
    from clients.models import Staff

    for name, target in (("b", 5), ("a", None), ("c", 7)):
        make_staff(workspace, name=name, monthly_target=target)
    request = RequestFactory().get("/s/?staff-sort=-monthly_target")
    request.access = Access()
    t = Table(request, name="staff", columns=[Column("name", "Name"), Column("monthly_target", "Target", kind="AED")],
              rows=Staff.objects.filter(workspace=workspace).values("pk", "name", "monthly_target"),
              default_sort="name", tiebreak="pk")
    assert [r[0].text for r in t.body] == ["c", "b", "a"]


def test_totals_are_a_footer_and_the_csv_last_line():
    request = RequestFactory().get("/page/?export=rows")
    request.access = Access()
    t = Table(request, name="rows", columns=COLUMNS, rows=ROWS, default_sort="-amount", per_page=10,
              totals={"amount": Decimal("4650")})
    assert [c.text for c in t.footer] == ["Total of all 31 rows", "AED 4,650"]
    lines = list(csv.reader(io.StringIO(b"".join(export_csv(request, t).streaming_content).decode())))
    assert lines[-1] == ["Total of all 31 rows", "4650.00"] and len(lines) == 12


@pytest.mark.parametrize("sort", ["-monthly_target", "monthly_target", "name", "-name"])
def test_deep_pages_read_from_the_far_end_are_the_same_rows(workspace, make_staff, sort):
    """Pages past the middle are read in reverse order from the other end (a small OFFSET); with ties, unknown
    values and a short last page, every page holds exactly the rows of a plain OFFSET page, in the same order."""
    from django.core.paginator import Paginator

    from clients.models import Staff

    for i in range(23):
        make_staff(workspace, name=f"s{i % 5}", monthly_target=None if i % 4 == 0 else (i % 3) * 100)
    request = RequestFactory().get(f"/s/?staff-sort={sort}")
    request.access = Access()
    t = Table(request, name="staff", columns=[Column("name", "Name"), Column("monthly_target", "Target", kind="AED")],
              rows=Staff.objects.filter(workspace=workspace).values("pk", "name", "monthly_target"),
              default_sort="name", tiebreak="pk", per_page=4)
    ordered = t._sorted()
    plain = Paginator(ordered, 4)
    assert plain.num_pages == 6
    for number in range(1, 7):
        far = t.page.paginator.page(number)
        assert list(far.object_list) == list(plain.page(number).object_list), number
