"""Which ad made the money (DESIGN §7 rows 2, 4, 9; issue 6): each contact's paid touches, a credit weight per
contact × ad from the chosen model, and those weights applied to the contact's outcomes (lead, booked, held,
deals, won, cash, refunds, disputes), summed per campaign, ad set or ad beside that key's spend.

Paid touches of a contact (`paid_touches_sql`): the first-touch ids on the Contact (fb_ad_id / fb_adset_id /
fb_campaign_id, else Meta ids carried by utm_content / utm_term / utm_campaign through the ad URL macros,
integrations.md §4) at its created_at; every AttributionEvent (AnyTrack, and WhatsApp click-to-chat ad referrals)
naming an ad, ad set or campaign, at its occurred_at; and every site visit of the contact's identified browsers
whose UTMs carry Meta ids, at its start. An ad id resolves to its ad set and campaign through the synced Meta structure (Ad → AdSet → Campaign).

Only touches up to the contact's conversion count: its first collected Stripe payment, and never after the end
of the window (the period's end on the cash basis, so a past period's credit does not move when new clicks
arrive; now on the cohort basis). Consecutive touches of the same ad collapse into one (AnyTrack and HubSpot
report the same click), then the model gives the weights (`credit_weights`, the rule the SQL implements):

- first: the earliest touch gets 1; last: the latest gets 1; linear: each touch 1 / number of touches.

Bases: "cash" — outcomes in the period (leads created, deals entering booked / held / won, deals created,
payments, refunds and disputes dated in it); "cohort" — the leads created in the period and everything they did
to date. Refunds and withdrawn disputes reduce the attributed revenue.

The credit table is one SQL statement (CTEs over the contacts with an outcome), never a loop over contacts. First
touch (the pages' default) needs no table per contact: its weight is 1, so each source's outcomes are summed per
stored first touch (`first_touch_sql`), a few thousand rows for a month at 100,000 clients.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import NamedTuple
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import Case, Expression, F, Q, QuerySet, Sum, Value, When
from django.utils import timezone

from clients.funnel import funnel_rows_of, reached, step_field
from clients.models import Contact, DealFunnel, FunnelStep
from finance.models import Dispute, DisputeStatus, Payment, Refund, RefundStatus
from marketing.models import Ad, AdInsight, AdSet, AttributionEvent, Campaign, FirstTouchDay, VisitSession, Visitor
from ptd.defaults import BENCHMARKS
from ptd.metrics import ratio
from ptd.models import Benchmark, RollupDirty
from ptd.rollups import day_ranges, day_spans
from ptd.periods import Period
from ptd.scoping import Scope, per_request, role_may_see, scoped

MODELS = ("first", "last", "linear")
BASES = ("cash", "cohort")
LEVELS = ("campaign", "adset", "ad")
CURRENCY = "AED"
# Stripe takes a disputed amount from the balance when the dispute opens and returns it only when it is won;
# inquiries (warning_*) and prevented disputes move no money.
WITHDRAWN_DISPUTES = (DisputeStatus.NEEDS_RESPONSE, DisputeStatus.UNDER_REVIEW, DisputeStatus.LOST)
# A Meta id as the ad URL macros put it into a UTM (the AnyTrack ingest reads UTMs the same way).
META_ID_PATTERN = "^[0-9]{6,40}$"
OUTCOMES = ("leads", "booked", "held", "deals", "won", "cash", "refunds", "disputed")
MONEY_OUTCOMES = ("cash", "refunds", "disputed")
STEP_COLUMNS = {"booked": FunnelStep.BOOKED, "held": FunnelStep.HELD, "won": FunnelStep.CLOSED_WON}


class AttributionError(ValueError):
    """A model, basis or level that does not exist."""


def _check(model: str, basis: str, level: str) -> None:
    for name, value, valid in (("model", model, MODELS), ("basis", basis, BASES), ("level", level, LEVELS)):
        if value not in valid:
            raise AttributionError(f"unknown attribution {name} {value!r}; valid: {', '.join(valid)}")


# --- the weights (pure) --------------------------------------------------------------------------

def credit_weights(touches: Sequence[Hashable], model: str) -> dict[Hashable, Fraction]:
    """Credit of each touched ad for one contact's outcomes: `touches` are the contact's paid touches before its
    conversion, oldest first (any hashable naming the ad). Consecutive repeats collapse into one touch; the
    weights sum to 1, or the dict is empty when there is no touch. The SQL below implements the same rule."""
    if model not in MODELS:
        raise AttributionError(f"unknown attribution model {model!r}; valid: {', '.join(MODELS)}")
    runs = [touch for i, touch in enumerate(touches) if i == 0 or touch != touches[i - 1]]
    if not runs:
        return {}
    if model == "first":
        return {runs[0]: Fraction(1)}
    if model == "last":
        return {runs[-1]: Fraction(1)}
    weights: dict[Hashable, Fraction] = {}
    for touch in runs:
        weights[touch] = weights.get(touch, Fraction(0)) + Fraction(1, len(runs))
    return weights


# The weight of a touch at `position` (1 = oldest) of `runs` collapsed touches: credit_weights in SQL.
WEIGHT_SQL = {
    "first": "CASE WHEN position = 1 THEN 1.0 ELSE 0.0 END",
    "last": "CASE WHEN position = runs THEN 1.0 ELSE 0.0 END",
    "linear": "1.0 / runs",
}


# --- paid touches --------------------------------------------------------------------------------

def paid_touches_sql(condition: str, join: str = "") -> str:
    """SELECT contact_id, touched_at, source_rank, source_pk, ad, adset, campaign: the paid touches (Meta ids as
    received, NULL when absent) of the contacts `condition` selects —
    - their own first-touch ids, at their creation (HubSpot);
    - their AnyTrack events naming an ad, ad set or campaign (WhatsApp click-to-chat ad referrals arrive as such
      events too, clients.whatsapp);
    - the site visits of their identified browsers whose UTMs carry Meta ids, at the visit's start.
    `condition` and `join` are templates naming the contact's id as {id}, its workspace as {ws} and the touch time
    as {time}, for each source. Order a contact's touches by (touched_at, source_rank, source_pk). Also the
    definition marketing.first_touch stores."""
    event, contact = AttributionEvent._meta.db_table, Contact._meta.db_table
    visit, visitor = VisitSession._meta.db_table, Visitor._meta.db_table
    on_event = dict(id="e.contact_id", ws="e.workspace_id", time="e.occurred_at")
    on_contact = dict(id="c.id", ws="c.workspace_id", time="c.created_at")
    on_visit = dict(id="vi.contact_id", ws="s.workspace_id", time="s.started_at")

    def utm_id(row: str, field: str) -> str:  # a Meta id as the ad URL macros put it into a UTM (integrations.md §4)
        return f"CASE WHEN {row}.{field} ~ '{META_ID_PATTERN}' THEN {row}.{field} END"

    own = {"ad": f"COALESCE(NULLIF(c.fb_ad_id, ''), {utm_id('c', 'utm_content')})",
           "adset": f"COALESCE(NULLIF(c.fb_adset_id, ''), {utm_id('c', 'utm_term')})",
           "campaign": f"COALESCE(NULLIF(c.fb_campaign_id, ''), {utm_id('c', 'utm_campaign')})"}
    visited = {"ad": utm_id("s", "utm_content"), "adset": utm_id("s", "utm_term"),
               "campaign": utm_id("s", "utm_campaign")}

    def any_id(ids: dict) -> str:
        return " OR ".join(f"{expression} IS NOT NULL" for expression in ids.values())

    return f"""
        SELECT c.id AS contact_id, c.created_at AS touched_at, 0 AS source_rank, c.id AS source_pk,
               {own["ad"]} AS ad, {own["adset"]} AS adset, {own["campaign"]} AS campaign
        FROM {contact} c {join.format(**on_contact)}
        WHERE ({any_id(own)}) AND {condition.format(**on_contact)}
        UNION ALL
        SELECT e.contact_id, e.occurred_at, 1, e.id,
               NULLIF(e.ad_id, ''), NULLIF(e.adset_id, ''), NULLIF(e.campaign_id, '')
        FROM {event} e {join.format(**on_event)}
        WHERE e.contact_id IS NOT NULL AND (e.ad_id <> '' OR e.adset_id <> '' OR e.campaign_id <> '')
          AND {condition.format(**on_event)}
        UNION ALL
        SELECT vi.contact_id, s.started_at, 2, s.id, {visited["ad"]}, {visited["adset"]}, {visited["campaign"]}
        FROM {visit} s JOIN {visitor} vi ON vi.id = s.visitor_id {join.format(**on_visit)}
        WHERE vi.contact_id IS NOT NULL AND ({any_id(visited)}) AND {condition.format(**on_visit)}"""


def resolved_sql(touches: str) -> str:
    """SELECT over `touches` (rows with ad, adset and campaign ids) adding ad_key, adset_key and campaign_key: an
    ad resolves to its ad set and campaign, an ad set to its campaign, through the synced Meta structure.
    Params: the workspace id, twice."""
    ad, adset, campaign = Ad._meta.db_table, AdSet._meta.db_table, Campaign._meta.db_table
    return f"""
        SELECT t.*, t.ad AS ad_key, COALESCE(ad_adset.meta_id, t.adset) AS adset_key,
               COALESCE(ad_campaign.meta_id, adset_campaign.meta_id, t.campaign) AS campaign_key
        FROM {touches} t
        LEFT JOIN {ad} a ON a.workspace_id = %s AND a.meta_id = t.ad
        LEFT JOIN {adset} ad_adset ON ad_adset.id = a.adset_id
        LEFT JOIN {campaign} ad_campaign ON ad_campaign.id = a.campaign_id
        LEFT JOIN {adset} s ON s.workspace_id = %s AND s.meta_id = t.adset
        LEFT JOIN {campaign} adset_campaign ON adset_campaign.id = s.campaign_id"""


# --- the outcomes of the period --------------------------------------------------------------------

def _sql(qs: QuerySet) -> tuple[str, list]:
    sql, params = qs.query.sql_with_params()
    return sql, list(params)


Spans = list[tuple[datetime, datetime]]  # [start, end) ranges of time


def _in(field: str, spans: Spans) -> Q:
    condition = Q(pk__in=[])
    for start, end in spans:
        condition |= Q(**{f"{field}__gte": start, f"{field}__lt": end})
    return condition


class _Source(NamedTuple):
    """The rows of one source of outcomes, limited to what the person may see: `contact` is the path from a row to
    its contact ("" for the contacts themselves), `columns` the outcome columns the source fills, an expression over
    a row each. A row, not a sum per contact: the per-contact path sums per contact, first touch per touch."""

    rows: QuerySet
    contact: str
    columns: dict[str, Expression]
    time: str  # the field that places a row in the period (on the cash basis)

    def of_contact(self, field: str) -> F:
        return F(f"{self.contact}__{field}" if self.contact else field)

    def select(self, **fields: F) -> tuple[str, list]:
        """SQL of the rows as `fields`, then o_<outcome> for each of `columns`."""
        return _sql(self.rows.order_by().values(**fields, **{f"o_{name}": value
                                                             for name, value in self.columns.items()}))

    def outcome(self, name: str, sql: str = "m.o_{name}") -> str:
        return sql.format(name=name) if name in self.columns else "0"


def _one_if(condition: Q) -> Case:
    return Case(When(condition, then=Value(1)), default=Value(0))


def _outcome_sources(access: Scope, period: Period | None, basis: str, now: datetime | None,
                     wanted: tuple[str, ...] = OUTCOMES, spans: Spans | None = None) -> list[_Source]:
    """The sources of the `wanted` outcomes (leads, booked, held, deals, won, cash, refunds, disputed), limited to
    what `access` may see; money only for roles that see finance. On the cash basis, `spans` (the period's when
    None) say which rows are in: the dirty days of the first-touch rollup are several."""
    spans = spans or [(period.start, period.end)]
    contacts = scoped(Contact, access)
    leads = contacts.filter(_in("created_at", [(period.start, period.end)] if basis == "cohort" else spans))
    sources = [_Source(leads, "", {"leads": Value(1)}, "created_at")] if "leads" in wanted else []
    if set(wanted) & set(MONEY_OUTCOMES) and role_may_see(Payment, access):
        sources += _money_sources(access, spans, basis, now, leads)
    if set(wanted) & {"booked", "held", "deals", "won"}:
        sources += _deal_sources(access, spans, basis, leads, contacts)
    return sources


def _deal_sources(access: Scope, spans: Spans, basis: str, leads: QuerySet, contacts: QuerySet) -> list[_Source]:
    """Deals created and deals entering booked, held and won, read from the DealFunnel rollup alone (each row
    carries its deal's contact, owner and creation time): a period's rows are index ranges, never a join of every
    deal."""
    deals = funnel_rows_of(access).filter(contact__isnull=False)
    if access.role not in Contact.ROLE_SCOPE_ALL:  # a coach's deals of other coaches' clients are not theirs
        deals = deals.filter(contact__in=contacts.values("pk"))
    if basis == "cohort":
        return [_Source(deals.filter(contact__in=leads), "contact", {
            "deals": Value(1), **{name: _one_if(reached(step, funnel="")) for name, step in STEP_COLUMNS.items()}},
            "deal_created_at")]
    # Deals created in the spans; deals first entering booked / held / won in them, each step on its own day.
    return [_Source(deals.filter(_in("deal_created_at", spans)), "contact", {"deals": Value(1)}, "deal_created_at"),
            *(_Source(deals.filter(_in(step_field(step), spans)), "contact", {name: Value(1)}, step_field(step))
              for name, step in STEP_COLUMNS.items())]


def _money_sources(access: Scope, spans: Spans, basis: str, now: datetime, leads: QuerySet) -> list[_Source]:
    """Collected payments, refunds and withdrawn disputes (minor units) of ad-paid contacts: money only ever
    follows the contact's first payment, which is then its conversion, so only a contact touched by an ad by then
    can be credited with it (under every model: the first touch is the earliest). Stated up front, it also lets
    those contacts be read from their own small index (contact_ad_paid) instead of looked up one by one."""
    def ad_paid(contact: str) -> Q:
        return Q(**{f"{contact}__first_touch_at__lte": F(f"{contact}__first_paid_at")})

    payments = scoped(Payment, access).filter(ad_paid("contact"), status__in=Payment.COLLECTED_STATUSES,
                                              currency=CURRENCY)
    refunds = scoped(Refund, access).filter(ad_paid("payment__contact"), status=RefundStatus.SUCCEEDED,
                                            currency=CURRENCY)
    disputes = scoped(Dispute, access).filter(ad_paid("payment__contact"), status__in=WITHDRAWN_DISPUTES,
                                              currency=CURRENCY)
    if basis == "cohort":
        payments = payments.filter(contact__in=leads, created__lt=now)
        refunds = refunds.filter(payment__contact__in=leads, created__lt=now)
        disputes = disputes.filter(payment__contact__in=leads, created__lt=now)
    else:
        payments, refunds, disputes = (rows.filter(_in("created", spans)) for rows in (payments, refunds, disputes))
    amount = F("amount_minor")
    return [_Source(payments, "contact", {"cash": amount}, "created"),
            _Source(refunds, "payment__contact", {"refunds": amount}, "created"),
            _Source(disputes, "payment__contact", {"disputed": amount}, "created")]


def _window_end(period: Period, basis: str, now: datetime) -> datetime:
    return period.end if basis == "cash" else now


def _cutoff_sql(first_paid_at: str) -> str:
    """The contact's conversion: its first collected payment (stored, finance.first_payment; `first_paid_at` names
    the column), or the window's end. Params: the window's end, twice."""
    return f"LEAST(COALESCE({first_paid_at}, %s), %s)"


def _union(selects: list[tuple[str, list]], empty: str) -> tuple[str, list]:
    """UNION ALL of the SELECTs; `empty` (a SELECT of no rows) when there are none: no outcome of that kind for
    this role is an empty set of rows, not a syntax error."""
    if not selects:
        return empty, []
    return "\n UNION ALL ".join(sql for sql, _ in selects), [p for _, params in selects for p in params]


def _credit_sql(access: Scope, period: Period, model: str, basis: str, level: str, now: datetime, *,
                outcomes: tuple[str, ...] = OUTCOMES, stored_first_touch: bool = True) -> tuple[str, list]:
    """WITH … outcomes (per contact), credit (contact_id, key, weight): the CTEs the per-contact queries end with.

    `outcomes` limits the contacts to those with one of these outcomes (the money alone for revenue). The first
    touch model reads each contact's stored first touch (marketing.first_touch) rather than ordering all its
    touches; `stored_first_touch=False` computes it from the touches like the other models (the tests hold the two
    equal)."""
    window_end = _window_end(period, basis, now)
    per_source = []
    for source in _outcome_sources(access, period, basis, now, outcomes):
        sql, params = source.select(cid=source.of_contact("id"))
        per_source.append((f"SELECT m.cid, {', '.join(map(source.outcome, OUTCOMES))} FROM ({sql}) m", params))
    union, params = _union(per_source, f"SELECT NULL::bigint{', 0' * len(OUTCOMES)} WHERE FALSE")
    sums = ", ".join(f"SUM({name}) AS {name}" for name in OUTCOMES)
    sql = f"""
    WITH outcome_rows (contact_id, {", ".join(OUTCOMES)}) AS ({union}),
    outcomes AS (SELECT contact_id, {sums} FROM outcome_rows GROUP BY contact_id),"""
    params += [window_end, window_end]
    if model == "first" and stored_first_touch:
        sql += f"""
    first_touches AS (
        SELECT c.id AS contact_id, NULLIF(c.first_touch_ad_id, '') AS ad,
               NULLIF(c.first_touch_adset_id, '') AS adset, NULLIF(c.first_touch_campaign_id, '') AS campaign
        FROM outcomes o JOIN {Contact._meta.db_table} c ON c.id = o.contact_id
        WHERE c.first_touch_at <= {_cutoff_sql('c.first_paid_at')}),
    credit AS (SELECT r.contact_id, r.{level}_key AS key, 1.0 AS weight FROM ({resolved_sql("first_touches")}) r)
    """
    else:
        touches = paid_touches_sql("{time} <= v.cutoff", join="JOIN conversion v ON v.contact_id = {id}")
        sql += f"""
    conversion AS (
        SELECT o.contact_id, {_cutoff_sql('c.first_paid_at')} AS cutoff
        FROM outcomes o JOIN {Contact._meta.db_table} c ON c.id = o.contact_id),
    touches AS ({touches}),
    resolved AS ({resolved_sql("touches")}),
    ordered AS (
        SELECT r.*, (r.ad_key, r.adset_key, r.campaign_key) IS DISTINCT FROM
                    (LAG(r.ad_key) OVER w, LAG(r.adset_key) OVER w, LAG(r.campaign_key) OVER w) AS starts_run
        FROM resolved r
        WINDOW w AS (PARTITION BY r.contact_id ORDER BY r.touched_at, r.source_rank, r.source_pk)),
    collapsed AS (
        SELECT o.contact_id, o.{level}_key AS key,
               ROW_NUMBER() OVER (PARTITION BY o.contact_id ORDER BY o.touched_at, o.source_rank, o.source_pk)
                   AS position,
               COUNT(*) OVER (PARTITION BY o.contact_id) AS runs
        FROM ordered o WHERE o.starts_run),
    credit AS (
        SELECT contact_id, key, SUM({WEIGHT_SQL[model]}) AS weight FROM collapsed
        GROUP BY contact_id, key HAVING SUM({WEIGHT_SQL[model]}) > 0)
    """
    params += [access.workspace.pk] * 2
    return sql, params


def first_touch_sql(access: Scope, period: Period | None, basis: str, now: datetime | None, outcomes: tuple[str, ...], *,
                     spans: Spans | None = None) -> tuple[str, list]:
    """SELECT ad, adset, campaign (the stored first touch's Meta ids as received, NULL when absent) and the sum of
    each outcome over the contacts whose first touch came before their conversion: the first touch model's credit
    (a weight of 1) without a row per contact. Each source's rows read their contact's stored first touch (through
    the covering index contact_first_touch) and are summed per touch; the few thousand touches are then summed over
    the sources. The same contacts and outcomes as `_credit_sql` (the tests hold the two equal).

    On the cash basis the sums are per local day, after two columns day and late_day: a day's credit whatever
    period it is read in (the first-touch rollup stores them, marketing.first_touch_days). The cash window's end
    cuts the touches off, so a touch after the day counts only in periods ending on or after the touch's own day
    (late_day; NULL for a touch by the day's end). `spans` limit the cash basis's rows (the period's when None)."""
    by_day, tz = basis == "cash", access.workspace.timezone
    day_columns = "d.day, CASE WHEN d.touch_day > d.day THEN d.touch_day END, " if by_day else ""
    per_source = []
    for source in _outcome_sources(access, period, basis, now, outcomes, spans):
        fields = {f"ft_{field}": source.of_contact(f"first_{field}") for field in (
            "touch_at", "touch_ad_id", "touch_adset_id", "touch_campaign_id", "paid_at")}
        if by_day:
            fields["time"] = F(source.time)
        sql, params = source.select(**fields)
        sums = ", ".join(source.outcome(name, "SUM(m.o_{name})") for name in OUTCOMES)
        if by_day:
            # A touch at midnight exactly is still within the day before: the window's end is inclusive.
            days = ("CROSS JOIN LATERAL (SELECT (m.time AT TIME ZONE %s)::date AS day, "
                    "((m.ft_touch_at - interval '1 microsecond') AT TIME ZONE %s)::date AS touch_day) d")
            cutoff, params = "COALESCE(m.ft_paid_at, 'infinity')", [*params, tz, tz]
        else:
            window_end = _window_end(period, basis, now)
            days, cutoff, params = "", _cutoff_sql("m.ft_paid_at"), [*params, window_end, window_end]
        per_source.append((f"""
        SELECT {day_columns}m.ft_touch_ad_id, m.ft_touch_adset_id, m.ft_touch_campaign_id, {sums} FROM ({sql}) m {days}
        WHERE m.ft_touch_at <= {cutoff}
        GROUP BY {day_columns}m.ft_touch_ad_id, m.ft_touch_adset_id, m.ft_touch_campaign_id""", params))
    union, params = _union(per_source, f"SELECT {'NULL::date, NULL::date, ' if by_day else ''}NULL, NULL, NULL"
                                       f"{', 0' * len(OUTCOMES)} WHERE FALSE")
    sums = ", ".join(f"SUM(o.{name}) AS {name}" for name in OUTCOMES)
    days = "o.day, o.late_day, " if by_day else ""
    return f"""
        SELECT {days}NULLIF(o.ad, '') AS ad, NULLIF(o.adset, '') AS adset, NULLIF(o.campaign, '') AS campaign, {sums}
        FROM ({union}) o ({days.replace("o.", "")}ad, adset, campaign, {", ".join(OUTCOMES)})
        GROUP BY {"1, 2, 3, 4, 5" if by_day else "1, 2, 3"}""", params


def _credit_rows(sql: str, params: list) -> list[tuple]:
    """Run a per-contact credit query. Its per-contact CTEs carry no row estimates PostgreSQL can use (it guesses
    one row), so it would join the Meta structure and the contacts to a month of outcomes with a loop per outcome
    (seconds at 100,000 clients): hash joins are asked for, in a savepoint of their own. A failure rolls the setting
    back with the savepoint; after success it is set back, since releasing a savepoint keeps it for an enclosing
    transaction."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_nestloop = off")
        cursor.execute(sql, params)
        rows = cursor.fetchall()
        cursor.execute("SET LOCAL enable_nestloop = on")
        return rows


def _first_touch_rows(sql: str, params: list) -> list[tuple]:
    """Run a query over `first_touch_sql`. Unlike the per-contact CTEs, each source's rows are estimated from
    their table, and looking up each row's contact in the covering index is the fast plan (hash joins would read
    the whole index once per source): the planner's choice stands."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def credits(*, access: Scope, period: Period, model: str = "first", basis: str = "cash", level: str = "campaign",
            now: datetime | None = None, stored_first_touch: bool = True) -> list[tuple[int, str | None, Decimal]]:
    """The credit table: (contact id, campaign / ad set / ad Meta id or None when unknown at that level, weight)
    for every contact with an outcome in the period and a paid touch before its conversion."""
    _check(model, basis, level)
    if not role_may_see(Contact, access):
        return []
    sql, params = _credit_sql(access, period, model, basis, level, now or timezone.now(),
                              stored_first_touch=stored_first_touch)
    rows = _credit_rows(sql + "SELECT contact_id, key, weight FROM credit ORDER BY contact_id, key", params)
    return [(contact_id, key, Decimal(weight)) for contact_id, key, weight in rows]


# --- per campaign / ad set / ad ----------------------------------------------------------------------

@dataclass(frozen=True)
class AttributedRow:
    """One campaign, ad set or ad (key = its Meta id; None gathers touches that name no id at this level).
    Counts are credit-weighted (a linear share of a lead is a fraction); money is AED, None when the role does
    not see it; net = cash − refunds − disputed."""

    level: str
    key: str | None
    name: str
    spend: Decimal | None
    meta_value: Decimal | None  # Meta-reported purchase value
    leads: Decimal
    booked: Decimal
    held: Decimal
    deals: Decimal  # deals created (cash basis: in the period), as in cpo
    won: Decimal
    cash: Decimal | None
    refunds: Decimal | None
    disputed: Decimal | None
    status: str  # money map: Scale / Kill / Too early, "" when spend is not shown

    @property
    def net(self) -> Decimal | None:
        return None if self.cash is None else self.cash - self.refunds - self.disputed

    def _per(self, count: Decimal) -> Decimal | None:
        value = None if self.spend is None else ratio(self.spend, count)
        return None if value is None else value.quantize(Decimal("0.01"))

    @property
    def cpl(self) -> Decimal | None:
        return self._per(self.leads)

    @property
    def cost_per_booked(self) -> Decimal | None:
        return self._per(self.booked)

    @property
    def cost_per_held(self) -> Decimal | None:
        return self._per(self.held)

    @property
    def cost_per_deal(self) -> Decimal | None:
        return self._per(self.deals)

    @property
    def roas(self) -> Decimal | None:
        return None if self.net is None or self.spend is None else ratio(self.net, self.spend)

    @property
    def meta_roas(self) -> Decimal | None:
        return None if self.meta_value is None or self.spend is None else ratio(self.meta_value, self.spend)


def money_map_status(spend: Decimal | None, roas: Decimal | None, *, min_spend: Decimal,
                     scale_roas: Decimal) -> str:
    """DESIGN §7a: Too early below the minimum spend; else Scale when ROAS > the scale threshold; else Kill."""
    if spend is None:
        return ""
    if spend < min_spend:
        return "Too early"
    if roas is None:
        return ""
    return "Scale" if roas > scale_roas else "Kill"


def money_map_thresholds(workspace) -> tuple[Decimal, Decimal]:
    """(minimum spend, scale ROAS): the admin's benchmarks, else the defaults a workspace starts with."""
    wanted = {"money_map_min_spend", "money_map_scale_roas"}
    values = {key: Decimal(value) for key, value, _, _ in BENCHMARKS if key in wanted}
    values.update(Benchmark.objects.filter(workspace=workspace, key__in=wanted).values_list("key", "value"))
    return values["money_map_min_spend"], values["money_map_scale_roas"]


LEVEL_MODELS = {"campaign": Campaign, "adset": AdSet, "ad": Ad}
INSIGHT_KEY = {"campaign": "campaign__meta_id", "adset": "adset__meta_id", "ad": "ad__meta_id"}


def _spend_by_key(access: Scope, period: Period, level: str) -> dict[str, tuple[Decimal, Decimal]]:
    rows = (scoped(AdInsight, access).filter(date__gte=period.first_day, date__lte=period.last_day)
            .values(key=F(INSIGHT_KEY[level])).order_by().annotate(spend=Sum("spend"), meta=Sum("purchase_value")))
    return {row["key"]: (row["spend"], row["meta"]) for row in rows}


def _totals(credited: str) -> str:
    """The SELECT list of the outcome totals, in OUTCOMES order: counts to 2 places, money from minor units to AED.
    `credited` is the credited value of an outcome, naming it as {name}."""
    return ", ".join(f"ROUND(SUM({credited.format(name=name)}){' / 100' if name in MONEY_OUTCOMES else ''}, 2)"
                     for name in OUTCOMES)


def attributed(*, access: Scope, period: Period, model: str = "first", basis: str = "cash",
               level: str = "campaign", now: datetime | None = None,
               outcomes: tuple[str, ...] = OUTCOMES, stored_first_touch: bool = True) -> list[AttributedRow]:
    """Per campaign / ad set / ad: spend and Meta-claimed value of the period beside the credit-weighted outcomes
    (see the module doc), every key with spend or credit, highest net revenue first. Four queries. With
    `outcomes` (e.g. MONEY_OUTCOMES), only the contacts with one of those outcomes are credited: the other
    counts are then partial and must not be shown. First touch sums the outcomes per stored first touch (no row
    per contact); `stored_first_touch=False` weighs each contact's outcomes as the other models do."""
    _check(model, basis, level)
    if not role_may_see(Contact, access):
        return []
    now = now or timezone.now()
    if model == "first" and stored_first_touch:
        touches = first_touch_sums(access, period, basis, _moment(basis, now), outcomes)
        # The touches' ids go back in as arrays to be resolved to the level's keys by the one definition.
        columns = list(zip(*touches)) or [()] * (3 + len(OUTCOMES))
        arrays = ", ".join(["%s::text[]"] * 3 + ["%s::numeric[]"] * len(OUTCOMES))
        sql = (f"WITH first_touch AS (SELECT * FROM unnest({arrays}) "
               f"AS t(ad, adset, campaign, {', '.join(OUTCOMES)})) "
               f"SELECT r.{level}_key, {_totals('r.{name}')} FROM ({resolved_sql('first_touch')}) r "
               f"GROUP BY r.{level}_key")
        found = _first_touch_rows(sql, [*map(list, columns), access.workspace.pk, access.workspace.pk])
    else:
        sql, params = _credit_sql(access, period, model, basis, level, now, outcomes=outcomes,
                                  stored_first_touch=stored_first_touch)
        sql += (f"SELECT k.key, {_totals('k.weight * o.{name}')} FROM credit k "
                f"JOIN outcomes o ON o.contact_id = k.contact_id GROUP BY k.key")
        found = _credit_rows(sql, params)
    credited = {row[0]: row[1:] for row in found}

    sees_money, sees_spend = role_may_see(Payment, access), role_may_see(AdInsight, access)
    spend = _spend_by_key(access, period, level) if sees_spend else {}
    keys = set(credited) | set(spend)
    names = dict(scoped(LEVEL_MODELS[level], access).filter(meta_id__in=[k for k in keys if k])
                 .values_list("meta_id", "name"))
    min_spend, scale_roas = money_map_thresholds(access.workspace)
    zero = (Decimal(0),) * len(OUTCOMES)
    rows = []
    for key in keys:
        leads, booked, held, deals, won, cash, refunds, disputed = credited.get(key, zero)
        key_spend, meta_value = spend.get(key, (Decimal(0), Decimal(0))) if sees_spend else (None, None)
        row = AttributedRow(
            level=level, key=key, name=names.get(key, key or f"No {level} id"), spend=key_spend,
            meta_value=meta_value, leads=leads, booked=booked, held=held, deals=deals, won=won,
            cash=cash if sees_money else None, refunds=refunds if sees_money else None,
            disputed=disputed if sees_money else None, status="")
        rows.append(replace(row, status=money_map_status(row.spend, row.roas, min_spend=min_spend,
                                                         scale_roas=scale_roas)))
    return sorted(rows, key=lambda r: (-(r.net or 0), -(r.spend or 0), r.key or ""))


@per_request
def attributed_net_revenue(*, access: Scope, period: Period, basis: str = "cash",
                           now: datetime | None = None) -> Decimal | None:
    """Σ net attributed revenue (cash − refunds − disputed, AED) over every contact with a paid touch before its
    conversion: the true ROAS numerator. The same under every model (a contact's weights add up to 1), so it is
    summed over the stored first touches — the same rows the per-ad money table of the period reads. None for
    roles that do not see finance."""
    _check("first", basis, "campaign")
    if not role_may_see(Payment, access):
        return None
    touches = first_touch_sums(access, period, basis, _moment(basis, now or timezone.now()), MONEY_OUTCOMES)
    cash, refunds, disputed = (OUTCOMES.index(name) + 3 for name in ("cash", "refunds", "disputed"))
    net_minor = sum((row[cash] - row[refunds] - row[disputed] for row in touches), Decimal(0))
    return (net_minor / 100).quantize(Decimal("0.01"))


def _moment(basis: str, now: datetime) -> datetime | None:
    """The `now` a basis depends on: the cohort's outcomes run to now, the cash basis reads the period alone (None,
    so a request's reads of one period share their rows)."""
    return now if basis == "cohort" else None


@per_request
def first_touch_sums(access: Scope, period: Period, basis: str, now: datetime | None,
                     outcomes: tuple[str, ...]) -> list[tuple]:
    """(ad, adset, campaign, *OUTCOMES) per stored first touch (money in minor units), once per request: the net
    revenue KPI and the per-ad money table of the same period read the same rows. The cash basis reads the
    first-touch rollup (`cash_sums`); the cohort basis, whose outcomes run to now, the raw rows
    (`first_touch_sql`)."""
    if basis == "cash":
        return cash_sums(access, [period], outcomes)[0]
    sql, params = first_touch_sql(access, period, basis, now, outcomes)
    return _first_touch_rows(sql, params)


# The tables whose dirty marks (ptd.rollups) make a day of the first-touch rollup stale: the outcomes' own, and the
# rollup's, under which writes elsewhere mark the days they move (marketing.first_touch_days).
CASH_CREDIT_SOURCES = tuple(model._meta.db_table for model in (
    Contact, DealFunnel, Payment, Refund, Dispute, FirstTouchDay))


def _reads_rollup(access: Scope) -> bool:
    """Whether `access` sees every row the rollup sums (its money only when it sees finance at all)."""
    return access.role in Contact.ROLE_SCOPE_ALL and access.role in DealFunnel.ROLE_SCOPE_ALL and (
        not role_may_see(Payment, access) or all(access.role in model.ROLE_SCOPE_ALL for model in (Payment, Refund, Dispute)))


def cash_sums(access: Scope, periods: list[Period], outcomes: tuple[str, ...]) -> list[list[tuple]]:
    """For each period, (ad, adset, campaign, *OUTCOMES) on the cash basis, from the per-day sums of the periods'
    days (`first_touch_sql` by day) — each cell counted in the periods holding its day and, for a touch after the
    day, ending on or after the touch (late_day) — in one statement. Readers of the whole workspace take the
    rollup's days that are clean and compute the dirty ones from the raw rows; the others compute their own rows.
    Equal to the raw rows (the tests hold them so)."""
    tz = access.workspace.timezone
    if any(period.tz.key != tz for period in periods):  # the rollup's days are the workspace's local days
        raise ValueError(f"period in another time zone than the workspace's {tz}")
    first, last = min(p.first_day for p in periods), max(p.last_day for p in periods)
    parts: list[tuple[str, list]] = []
    if _reads_rollup(access):
        dirty = list(RollupDirty.objects.filter(workspace=access.workspace, source__in=CASH_CREDIT_SOURCES,
                                                day__range=(first, last)).values_list("day", flat=True).distinct())
        money = role_may_see(Payment, access)
        shown = [name for name in OUTCOMES if name in outcomes and (money or name not in MONEY_OUTCOMES)]
        columns = ", ".join(name if name in shown else "0" for name in OUTCOMES)
        parts.append((f"""SELECT day, late_day, ad, adset, campaign, {columns} FROM {FirstTouchDay._meta.db_table}
            WHERE workspace_id = %s AND day BETWEEN %s AND %s AND day <> ALL(%s::date[])
              AND ({" OR ".join(f"{name} <> 0" for name in shown) or "FALSE"})""",
                      [access.workspace.pk, first, last, dirty]))
        live_days = day_ranges(dirty)
    else:
        live_days = [(first, last)]
    if live_days:
        parts.append(first_touch_sql(access, None, "cash", None, outcomes, spans=day_spans(live_days, ZoneInfo(tz))))
    rows_sql, params = _union(parts, "")
    bounds = ", ".join(["(%s, %s::date, %s::date)"] * len(periods))
    sums = ", ".join(f"SUM(r.{name})" for name in OUTCOMES)
    rows = _first_touch_rows(f"""
        SELECT p.i, r.ad, r.adset, r.campaign, {sums}
        FROM ({rows_sql}) r (day, late_day, ad, adset, campaign, {", ".join(OUTCOMES)})
        JOIN (VALUES {bounds}) p (i, first, last)
          ON r.day BETWEEN p.first AND p.last AND (r.late_day IS NULL OR r.late_day <= p.last)
        GROUP BY 1, 2, 3, 4""", [*params, *(x for i, p in enumerate(periods) for x in (i, p.first_day, p.last_day))])
    out: list[list[tuple]] = [[] for _ in periods]
    for i, *row in rows:
        out[i].append(tuple(row))
    return out


def net_revenue_with_prior(period: Period, access: Scope) -> None:
    """The cash-basis money sums per first touch of the period and of its prior period (what their net revenue and
    per-ad money read), from one read of both, remembered for the request as first_touch_sums of each. Nothing to
    do outside a request, or once the period's sums are held (a table read them first)."""
    if access.memo is None or not role_may_see(Payment, access) or first_touch_sums.known(
            access, period, "cash", None, MONEY_OUTCOMES):
        return
    prior = period.prior()
    for which, sums in zip((period, prior), cash_sums(access, [period, prior], MONEY_OUTCOMES)):
        first_touch_sums.remember(access, which, "cash", None, MONEY_OUTCOMES, value=sums)
