"""Reads of the Meta dashboard (DESIGN §7 row 8): the period's KPIs, insights summed per campaign, ad set or ad
(one GROUP BY query), per day for the trends (one query), and the Meta sync's state with the campaigns' delivery
status. Rates are always the ratio of sums (marketing.metrics.insight_rates)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, timedelta

from django.db.models import Count, Max, Min

from marketing.metrics import INSIGHT_SUMS, insight_rates, insight_sums_of, insight_sums_sql
from marketing.models import AdInsight, AdSet, Campaign, MetaStatus
from marketing.services import META_SOURCE
from ptd.metrics import KPI, format_value, kpis
from ptd.models import SyncState
from ptd.periods import Period
from ptd.scoping import Scope, scoped
from ptd.selectors import configured_credentials
from ptd.sync import pull_source

META_KPIS = ["ad_spend", "impressions", "reach", "frequency", "ctr", "cpc", "cpm", "meta_leads", "cpl",
             "meta_purchases", "meta_roas"]


@dataclass(frozen=True)
class CentsKPI(KPI):
    """A KPI in AED whose values are a few dirhams (cost per click, per 1,000 impressions): whole dirhams, as
    format_value shows AED, would round AED 1.46 to AED 1."""

    @property
    def display(self) -> str:
        return format_value(self.value, self.unit) if self.value is None else f"AED {self.value:,.2f}"


CENTS = {"cpc", "cpm"}


def meta_kpis_for(access: Scope, period: Period) -> list[KPI]:
    """The dashboard's cards: the registered metrics with their prior period (the insight sums are read once per
    period for all of them: marketing.metrics._insight_sums)."""
    found = kpis(META_KPIS, period, access)
    return [CentsKPI(**{f.name: getattr(k, f.name) for f in fields(k)}) if k.name in CENTS else k for k in found]


def _insights(access: Scope, period: Period, campaign: Campaign | None, adset: AdSet | None):
    """The period's insight rows, of one campaign or ad set when drilled down (index: workspace, campaign|adset,
    date)."""
    rows = scoped(AdInsight, access).filter(date__gte=period.first_day, date__lte=period.last_day)
    if adset is not None:
        return rows.filter(adset=adset)
    return rows.filter(campaign=campaign) if campaign is not None else rows


def _with_rates(sums: dict) -> dict:
    return {**sums, **insight_rates(sums)}


def insights_by_day(access: Scope, period: Period, *, campaign: Campaign | None = None,
                    adset: AdSet | None = None) -> list[dict]:
    """Each day of the period (zero-filled): the summed columns and the day's rates."""
    found = {r["date"]: insight_sums_of(r) for r in _insights(access, period, campaign, adset).values("date").annotate(
        **insight_sums_sql()).order_by()}
    zero = dict.fromkeys(INSIGHT_SUMS, 0)
    days = (period.first_day + timedelta(days=i) for i in range(period.days))
    return [{"date": day, **_with_rates(found.get(day, zero))} for day in days]


def status_label(effective: str, status: str) -> str:
    """Meta's effective status when synced (it says why an active ad does not deliver), else the configured one."""
    return (effective or status).replace("_", " ").capitalize()


@dataclass(frozen=True)
class InsightLevel:
    level: str  # the level of the rows: campaign, adset or ad
    rows: list[dict]
    totals: dict | None  # the sums over every row and their rates; None with fewer than two rows


def insights_by_level(access: Scope, period: Period, *, campaign: Campaign | None = None,
                      adset: AdSet | None = None) -> InsightLevel:
    """One row per campaign that delivered in the period, or per ad set of `campaign`, or per ad of `adset`."""
    level = "ad" if adset is not None else ("adset" if campaign is not None else "campaign")
    found = _insights(access, period, campaign, adset).values(
        f"{level}_id", f"{level}__meta_id", f"{level}__name", f"{level}__status", f"{level}__effective_status",
    ).annotate(**insight_sums_sql()).order_by()
    rows = [{"key": r[f"{level}__meta_id"], "name": r[f"{level}__name"],
             "status": status_label(r[f"{level}__effective_status"], r[f"{level}__status"]),
             **_with_rates(insight_sums_of(r))} for r in found]
    totals = None
    if len(rows) > 1:
        totals = _with_rates({f: sum(r[f] for r in rows) for f in INSIGHT_SUMS})
    return InsightLevel(level, rows, totals)


@dataclass(frozen=True)
class MetaSync:
    state: SyncState | None
    missing: list[str]  # credentials the sync needs and the workspace lacks
    cadence: str
    insight_rows: int
    first_day: date | None
    last_day: date | None
    campaigns: list[dict]

    @property
    def status_counts(self) -> list[tuple[str, int]]:
        """How many campaigns are configured active, paused, … (the configured status, every campaign)."""
        counts = {label: 0 for _, label in MetaStatus.choices}
        for c in self.campaigns:
            counts[c["status_name"]] = counts.get(c["status_name"], 0) + 1
        return [(label, n) for label, n in counts.items() if n or label in ("Active", "Paused")]


def meta_sync_for(access: Scope) -> MetaSync:
    """The Meta pull sync's last run, the credentials it still needs, what is stored, and every campaign's
    configured and effective status (three queries and the credential check)."""
    source = pull_source(META_SOURCE)
    configured = configured_credentials(access.workspace)
    stored = scoped(AdInsight, access).aggregate(rows=Count("pk"), first=Min("date"), last=Max("date"))
    labels = dict(MetaStatus.choices)
    campaigns = [{**c, "status_name": str(labels.get(c["status"], c["status"])),
                  "effective": status_label(c["effective_status"], "") or "—"}
                 for c in scoped(Campaign, access).values("meta_id", "name", "status", "effective_status", "objective",
                                                          "daily_budget", "start_time", "stop_time")]
    return MetaSync(state=SyncState.objects.filter(workspace=access.workspace, source=META_SOURCE).first(),
                    missing=[c for c in source.credentials if c not in configured], cadence=source.cadence,
                    insight_rows=stored["rows"], first_day=stored["first"], last_day=stored["last"],
                    campaigns=campaigns)
