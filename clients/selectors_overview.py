"""Reads behind the Overview's daily summary and the at-risk tables (Overview and coach pages), scoped
(ptd.scoping), plus the SQL expressions their table rows share: a client's label (a name, or "Client <id>"
for a role that may not see names), a record's URL and a choice's label, so rows sort and page in SQL.

Daily summary (DESIGN §7 row 10), for the latest scored day D compared with the scored day before it (P,
normally D − 1):

- entered red: clients scored red on D who were scored, and not red, on P;
- recovered: clients scored green or purple on D who were scored yellow or red on P;
- interventions opened / completed: created / completed (status done) on D, workspace time zone;
- sessions attended: training sessions with status attended on the day before D (D itself is not over when
  the 09:00 scoring runs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Case, CharField, Count, F, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Coalesce, Concat, NullIf, Trim
from django.urls import reverse

from clients.models import (Contact, HealthScore, Intervention, InterventionStatus, Trend, Zone)
from clients.selectors_health import average_health_trend_for
from ptd import rollups
from ptd.periods import Period
from ptd.scoping import Scope, scoped

AT_RISK_ZONES = [Zone.YELLOW, Zone.RED]
HEALTHY_ZONES = [Zone.PURPLE, Zone.GREEN]
SUMMARY_LIST_SIZE = 10  # clients named per change in the daily summary; the count covers them all

# The non-info warnings of a score, in the order the health engine wrote them.
WARNINGS_SQL = (f"(SELECT string_agg(f->>'text', ' · ') FROM jsonb_array_elements({HealthScore._meta.db_table}.flags) f"
                " WHERE f->>'severity' <> 'info')")


# ---------------------------------------------------------------------------------------- row expressions

def client_label(scope: Scope, contact: str = ""):
    """A contact's name, or "Client <id>" when it has none or the role may not see names (viewers). On Contact
    rows, or through the path `contact` ("contact__") of a related record; tables of other records show it with
    of_contact()."""
    reference = Concat(Value("Client "), Cast(f"{contact}id", CharField()))
    if not scope.can_see_pii:
        return reference
    name = Trim(Concat(f"{contact}first_name", Value(" "), f"{contact}last_name"))
    return Coalesce(NullIf(name, Value("")), reference, output_field=CharField())


def url_of(url_name: str, key: str):
    """The URL of the record whose id is in `key` (NULL when it is), built in SQL from the URL pattern."""
    head, tail = reverse(url_name, args=[0]).rsplit("0", 1)
    return Case(When(**{f"{key}__isnull": False}, then=Concat(Value(head), Cast(key, CharField()), Value(tail))),
                default=None, output_field=CharField())


def choice_label(key: str, choices) -> Case:
    """The display label of a choice field, so a table shows "No-show" rather than "no_show"."""
    return Case(*(When(**{key: value}, then=Value(str(label))) for value, label in choices),
                default=F(key), output_field=CharField())


def of_contact(scope: Scope, **value) -> Subquery:
    """One value of the row's contact as a correlated subquery, not a join: counting the rows and taking the
    riskiest page then never touch the contacts, and PostgreSQL evaluates it for the rows shown only."""
    (name, expression), = value.items()
    return Subquery(scoped(Contact, scope).filter(pk=OuterRef("contact_id")).order_by().values(**{name: expression})[:1])


# ---------------------------------------------------------------------------------------- the scored day

def average_health_on(scope: Scope, day: date) -> Decimal | None:
    """Mean health total of the clients scored on `day` (one day's scores, not the 30-day trend)."""
    trend = average_health_trend_for(scope, day, days=1)
    return trend[0][1] if trend else None


TREND_DAYS = 30


def health_trend_for(scope: Scope, day: date) -> list[tuple[date, float]]:
    """Average health per scored day over the TREND_DAYS up to `day` (daily measures: a few dozen rows)."""
    return [(d, float(avg)) for d, avg in average_health_trend_for(scope, day, days=TREND_DAYS)]


# ---------------------------------------------------------------------------------------- at-risk clients

def at_risk_rows_for(scope: Scope, day: date, coach_id: int | None = None) -> QuerySet:
    """Yellow and red clients scored on `day` (optionally one coach's), as table rows that sort and page in
    SQL: client, client_url, coach, coach_url, total, zone, churn_risk, trend_label, warnings."""
    rows = scoped(HealthScore, scope).filter(date=day, zone__in=AT_RISK_ZONES)
    if coach_id is not None:
        rows = rows.filter(contact__coach_id=coach_id)
    return rows.values("pk", "contact_id", "total", "zone", "churn_risk").annotate(
        client=of_contact(scope, label=client_label(scope)), client_url=url_of("client-detail", "contact_id"),
        # A coach may open only their own coach page; every client of theirs has them as coach.
        coach=of_contact(scope, name=F("coach__name")), coach_url=of_contact(scope, url=url_of("coach-detail", "coach_id")),
        trend_label=choice_label("trend", Trend.choices), warnings=RawSQL(WARNINGS_SQL, [], output_field=CharField()))


def at_risk_sort_keys(scope: Scope) -> dict[str, object]:
    """What at_risk_rows_for's client and coach columns sort by: the same values through a join of the contacts.
    Their shown values are looked up row by row, which is cheap for a page but took twice as long as a join to
    sort 15,000 at-risk clients by (at 100,000 clients)."""
    return {"client": client_label(scope, contact="contact__"), "coach": "contact__coach__name"}


# ---------------------------------------------------------------------------------------- daily summary

@dataclass
class ZoneChange:
    count: int = 0
    clients: list[dict] = field(default_factory=list)  # the riskiest SUMMARY_LIST_SIZE: label, url, zone, was

    @property
    def more(self) -> int:
        """How many changed clients the list leaves out."""
        return self.count - len(self.clients)


@dataclass
class DailySummary:
    day: date
    previous: date | None  # the scored day compared with (None: the first scored day)
    entered_red: ZoneChange
    recovered: ZoneChange
    interventions_opened: int
    interventions_completed: int
    sessions_day: date
    sessions_attended: int


def _day_bounds(scope: Scope, day: date) -> tuple[datetime, datetime]:
    tz = ZoneInfo(scope.workspace.timezone)
    return datetime.combine(day, time.min, tz), datetime.combine(day + timedelta(days=1), time.min, tz)


def _scores_sql(scope: Scope, day: date) -> tuple[str, tuple]:
    """The scores of `day` the person may see (ptd.scoping), as SQL to compose with."""
    return (scoped(HealthScore, scope).filter(date=day).order_by()
            .values("id", "contact_id", "zone", "churn_risk").query.sql_with_params())


def _zone_changes(scope: Scope, day: date, previous: date) -> dict[str, ZoneChange]:
    """Who entered red and who recovered between `previous` and `day`: the counts and the riskiest few of each.
    The two days' scores are joined on the client directly (no join with the contacts), and a window keeps the
    list short; the few clients listed are then labelled in a second query."""
    now_sql, now_params = _scores_sql(scope, day)
    before_sql, before_params = _scores_sql(scope, previous)
    sql = f"""
    WITH now AS ({now_sql}), before AS ({before_sql}),
    changed AS (
      SELECT now.id, now.contact_id, now.zone, now.churn_risk, before.zone AS was,
             CASE WHEN now.zone = %s AND before.zone <> %s THEN 'entered_red'
                  WHEN now.zone = ANY(%s) AND before.zone = ANY(%s) THEN 'recovered' END AS change
      FROM now JOIN before ON before.contact_id = now.contact_id
    ), ranked AS (
      SELECT change, contact_id, zone, was, count(*) OVER (PARTITION BY change) AS changed,
             row_number() OVER (PARTITION BY change ORDER BY churn_risk DESC NULLS LAST, id) AS position
      FROM changed WHERE change IS NOT NULL
    )
    SELECT change, changed, contact_id, zone, was FROM ranked WHERE position <= %s ORDER BY change, position"""
    params = (*now_params, *before_params, Zone.RED, Zone.RED, [z.value for z in HEALTHY_ZONES],
              [z.value for z in AT_RISK_ZONES], SUMMARY_LIST_SIZE)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    labels = {r["pk"]: r for r in scoped(Contact, scope).filter(pk__in=[r[2] for r in rows]).order_by().values("pk")
              .annotate(label=client_label(scope), url=url_of("client-detail", "pk"))} if rows else {}
    changes = {"entered_red": ZoneChange(), "recovered": ZoneChange()}
    for change, changed, contact_id, zone, was in rows:
        found = changes[change]
        found.count = changed
        found.clients.append({"label": labels[contact_id]["label"], "url": labels[contact_id]["url"], "zone": zone,
                              "was": was})
    return changes


def daily_summary_for(scope: Scope, day: date) -> DailySummary:
    """What changed on the latest scored day `day` (see the module docstring for each figure)."""
    # ORDER BY … LIMIT 1 walks the date index backwards; MAX() would read every score of a coach's clients.
    previous = (scoped(HealthScore, scope).filter(date__lt=day).order_by("-date")
                .values_list("date", flat=True).first())
    changes = _zone_changes(scope, day, previous) if previous else {"entered_red": ZoneChange(),
                                                                    "recovered": ZoneChange()}
    start, end = _day_bounds(scope, day)
    opened, completed = Q(created_at__gte=start, created_at__lt=end), Q(
        status=InterventionStatus.DONE, completed_at__gte=start, completed_at__lt=end)
    interventions = scoped(Intervention, scope).filter(opened | completed).aggregate(
        opened=Count("pk", filter=opened), completed=Count("pk", filter=completed))
    sessions_day = day - timedelta(days=1)
    one_day = Period(key="custom", label="", first_day=sessions_day, last_day=sessions_day,
                     tz=ZoneInfo(scope.workspace.timezone))
    attended = int(rollups.total("sessions_attended", one_day, scope))
    return DailySummary(day=day, previous=previous, entered_red=changes["entered_red"],
                        recovered=changes["recovered"], interventions_opened=interventions["opened"],
                        interventions_completed=interventions["completed"], sessions_day=sessions_day,
                        sessions_attended=attended)
