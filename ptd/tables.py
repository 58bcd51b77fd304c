"""Tables on every page (DESIGN §7b): sortable columns, pagination, row links, and CSV export of exactly
what is shown — one piece of code for all pages.

A view builds `Table(request, name=…, columns=[…], rows=…, default_sort="-calls")` from a queryset of
dicts (`.values()` / annotated) or a list of dicts, then `export_csv(table, …)` answers `?export=<name>`
and the template includes `partials/table.html` with `table=…`. Query parameters are namespaced by the
table's name (`<name>-sort`, `<name>-page`), so several tables live on one page and in one URL.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.core.paginator import Paginator
from django.db.models import F, QuerySet
from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.text import slugify

from ptd.metrics import format_value

ZONE_LABELS = {"purple": "Purple", "green": "Green", "yellow": "Yellow", "red": "Red"}
NUMERIC_KINDS = {"count", "AED", "%", "score", "×", "minutes", "number"}


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = "text"  # text | count | number | AED | % | score | × | minutes | zone | date | datetime
    sortable: bool = True
    link: str = ""  # key of the row's URL for this cell
    pii: bool = False  # names, emails, phones: hidden from viewers
    help: str = ""  # the formula, shown on hover
    # What SQL sorts the column by, when not its value: e.g. a joined column where the value is looked up per row
    # (cheap for a page, slow to sort thousands of rows by).
    sort_by: object = None

    @property
    def numeric(self) -> bool:
        return self.kind in NUMERIC_KINDS


@dataclass(frozen=True)
class Cell:
    text: str
    href: str = ""
    kind: str = "text"
    raw: object = None

    @property
    def numeric(self) -> bool:
        return self.kind in NUMERIC_KINDS


@dataclass
class Table:
    request: object
    name: str
    columns: list[Column]
    rows: QuerySet | list[dict]
    default_sort: str
    per_page: int = 25
    partial: str = ""  # the page partial that re-renders this table (default: its name)
    empty_message: str = "Nothing to show in this period."
    caption: str = ""
    tiebreak: str = ""  # a unique key, so equal sort values keep a stable order across pages
    totals: dict | None = None  # column key → total over ALL rows (not just the page): a footer row and CSV line
    _page: object = field(init=False, default=None)

    def __post_init__(self):
        access = getattr(self.request, "access", None)
        if access is not None and not access.can_see_pii:
            self.columns = [c for c in self.columns if not c.pii]
        self.partial = self.partial or self.name

    # ---- sort and page from the URL ----

    @property
    def sort_param(self) -> str:
        return f"{self.name}-sort"

    @property
    def page_param(self) -> str:
        return f"{self.name}-page"

    @property
    def sort(self) -> tuple[str, bool]:
        """(column key, descending) from the URL, else the default; unknown keys fall back to it."""
        wanted = self.request.GET.get(self.sort_param, "") or self.default_sort
        key = wanted.lstrip("-")
        if not any(c.key == key and c.sortable for c in self.columns):
            wanted = self.default_sort
            key = wanted.lstrip("-")
        return key, wanted.startswith("-")

    def _sorted(self) -> QuerySet | list[dict]:
        key, descending = self.sort
        if isinstance(self.rows, QuerySet):
            by = next((c.sort_by for c in self.columns if c.key == key), None)  # (a default sort may be no column)
            by = F(by or key) if by is None or isinstance(by, str) else by
            order = by.desc(nulls_last=True) if descending else by.asc(nulls_last=True)
            return self.rows.order_by(order, *([self.tiebreak] if self.tiebreak else []))
        present = [r for r in self.rows if r.get(key) is not None]
        missing = [r for r in self.rows if r.get(key) is None]
        present.sort(key=lambda r: _sort_key(r[key]), reverse=descending)
        return present + missing  # unknown values last, whichever the direction

    @property
    def page(self):
        if self._page is None:
            # With a unique tiebreak the order is total, so a page can be read from either end.
            paginator = (FarEndPaginator if self.tiebreak else Paginator)(self._sorted(), self.per_page)
            self._page = paginator.get_page(self.request.GET.get(self.page_param))
        return self._page

    # ---- what the template shows ----

    @property
    def headers(self) -> list[dict]:
        key, descending = self.sort
        out = []
        for c in self.columns:
            active = c.key == key
            next_sort = c.key if (active and descending) or (not active and not c.numeric) else f"-{c.key}"
            out.append({"column": c, "active": active,
                        "aria_sort": ("descending" if descending else "ascending") if active else "",
                        **self._link(**{self.sort_param: next_sort, self.page_param: None})})
        return out

    @property
    def body(self) -> list[list[Cell]]:
        tz = timezone.get_current_timezone()
        return [[_cell(c, row, tz) for c in self.columns] for row in self.page.object_list]

    @property
    def footer(self) -> list[Cell]:
        """The totals row: its label in the first column, each total under its column."""
        if not self.totals:
            return []
        tz = timezone.get_current_timezone()
        label = f"Total of all {self.total:,} rows"
        return [Cell(text=label) if i == 0 else _cell(c, self.totals, tz) for i, c in enumerate(self.columns)]

    @property
    def total(self) -> int:
        return self.page.paginator.count

    def _link(self, **changes) -> dict:
        """A link's real href (kept in the address bar) and the URL htmx fetches for just this table."""
        url = self.url(**changes)
        return {"url": url, "hx_url": f"{url}{'&' if '?' in url else '?'}partial={self.partial}"}

    @property
    def prev_link(self) -> dict:
        return self._link(**{self.page_param: self.page.previous_page_number()}) if self.page.has_previous() else {}

    @property
    def next_link(self) -> dict:
        return self._link(**{self.page_param: self.page.next_page_number()}) if self.page.has_next() else {}

    @property
    def pages(self) -> list[dict]:
        """First, last and the pages around the current one; None marks a gap."""
        current, last = self.page.number, self.page.paginator.num_pages
        wanted = sorted({1, last, *range(max(1, current - 2), min(last, current + 2) + 1)})
        out, previous = [], 0
        for number in wanted:
            if number - previous > 1:
                out.append(None)
            out.append({"number": number, "current": number == current, **self._link(**{self.page_param: number})})
            previous = number
        return out

    @property
    def export_url(self) -> str:
        return self.url(export=self.name)

    @property
    def export_all_url(self) -> str:
        return self.url(export=self.name, rows="all")

    def url(self, **changes) -> str:
        """This page's URL with some query parameters changed (None removes one); never the partial."""
        params = self.request.GET.copy()
        for name in ("partial", "export", "rows"):
            params.pop(name, None)
        for name, value in changes.items():
            if value is None:
                params.pop(name, None)
            else:
                params[name] = str(value)
        query = params.urlencode()
        return f"{self.request.path}?{query}" if query else self.request.path

    # ---- CSV ----

    def csv_rows(self, all_rows: bool) -> Iterable[list]:
        tz = timezone.get_current_timezone()
        yield [c.label + (f" ({c.kind})" if c.kind in ("AED", "%", "minutes") else "") for c in self.columns]
        rows = self._sorted() if all_rows else self.page.object_list
        if isinstance(rows, QuerySet):
            rows = rows.iterator(chunk_size=2000)
        for row in rows:
            yield [_csv_value(c, row.get(c.key), tz) for c in self.columns]
        if self.totals:
            yield [f"Total of all {self.total} rows", *(_csv_value(c, self.totals.get(c.key), tz)
                                                        for c in self.columns[1:])]


class FarEndPaginator(Paginator):
    """Pages past the middle of a totally ordered QuerySet are read from the far end — the order reversed, a small
    OFFSET, the rows put back — because PostgreSQL reads and drops every row before an OFFSET: the last of 3,208
    pages of clients took 1.9 s."""

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        if not isinstance(self.object_list, QuerySet) or bottom <= self.count // 2:
            return super().page(number)
        rows = list(self.object_list.reverse()[self.count - top:self.count - bottom])
        return self._get_page(rows[::-1], number, self)


def export_csv(request, *tables: Table) -> HttpResponse | None:
    """The CSV of the table named by `?export=`, or None when no export is asked for. `rows=all` exports
    every row in the shown sort order; otherwise exactly the rows on the shown page."""
    wanted = request.GET.get("export")
    table = next((t for t in tables if t.name == wanted), None)
    if table is None:
        return None

    class Echo:
        def write(self, value):
            return value

    writer = csv.writer(Echo())
    all_rows = request.GET.get("rows") == "all"
    response = StreamingHttpResponse((writer.writerow(r) for r in table.csv_rows(all_rows)),
                                     content_type="text/csv; charset=utf-8")
    stamp = timezone.localdate().isoformat()
    suffix = "" if all_rows else f"-page{table.page.number}"
    response["Content-Disposition"] = f'attachment; filename="{slugify(table.name)}-{stamp}{suffix}.csv"'
    return response


def _sort_key(value):
    if isinstance(value, str):
        return value.casefold()
    return value


def _cell(column: Column, row: dict, tz) -> Cell:
    value = row.get(column.key)
    href = row.get(column.link, "") if column.link else ""
    return Cell(text=display(value, column.kind, tz), href=href or "", kind=column.kind, raw=value)


def display(value, kind: str, tz=None) -> str:
    """How a value reads in a table cell."""
    if value is None or value == "":
        return "—"
    if kind == "zone":
        return ZONE_LABELS.get(value, str(value))
    if kind == "datetime" and isinstance(value, datetime):
        return value.astimezone(tz or timezone.get_current_timezone()).strftime("%d %b %Y %H:%M")
    if kind == "date" and isinstance(value, date):
        return value.strftime("%d %b %Y")
    if kind == "minutes":
        return f"{Decimal(str(value)):,.1f} min"
    if kind == "number":
        return f"{Decimal(str(value)):,.1f}"
    if kind in ("count", "AED", "%", "score", "×"):
        return format_value(Decimal(str(value)), kind)
    return str(value)


def _csv_value(column: Column, value, tz):
    """Plain values for spreadsheets (no units or thousands separators); text that a spreadsheet would
    run as a formula is quoted (CSV injection)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal | float) and column.kind in ("AED", "%", "score", "×", "minutes", "number"):
        return f"{Decimal(str(value)):.2f}"
    text = str(value)
    if column.kind == "zone":
        return ZONE_LABELS.get(text, text)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not column.numeric:
        return "'" + text
    return text
