"""Meta dashboard (DESIGN §7 row 8): thin view. Campaign → ad set → ad drill-down by Meta id in the URL
(?campaign= / ?adset=, as on the money map); each part of the page is computed when the template first reads it,
so an htmx request for one partial computes only its part."""

from functools import cached_property

from django.core.exceptions import BadRequest
from django.http import Http404, QueryDict
from django.urls import reverse

from marketing import charts
from marketing.metrics import spend_hidden
from marketing.models import AdSet, Campaign
from marketing.selectors import adset_for, campaign_for
from marketing.selectors_meta import insights_by_day, insights_by_level, meta_kpis_for, meta_sync_for
from marketing.views import LEVEL_LABELS
from ptd.navigation import can_open
from ptd.selectors_dashboard import KPIGroup
from ptd.tables import Column, Table, export_csv
from ptd.views import page_period, render_page, require_page

META_PARTIALS = ["meta-kpis", "meta-trends", "meta-insights", "meta-sync"]
REACH_HELP = "Σ daily reach: a person reached on several days or by several ads counts each time"
FREQUENCY_HELP = ("Σ impressions ÷ Σ daily reach — an approximation: Meta's frequency divides by people reached "
                  "over the whole period, deduplicated, which daily rows cannot do")


class MetaDashboardPage:
    """What /meta-dashboard/ shows: the period's KPIs, the trends and the insights per campaign, or per ad set of
    ?campaign=, or per ad of ?adset=, and the sync status."""

    def __init__(self, request):
        self.request, self.access, self.period = request, request.access, page_period(request)
        self.campaign, self.adset = self._drilled()

    def _drilled(self) -> tuple[Campaign | None, AdSet | None]:
        campaign, adset = self.request.GET.get("campaign", ""), self.request.GET.get("adset", "")
        try:
            if adset:
                found = adset_for(self.access, adset)
                if campaign and found.campaign.meta_id != campaign:
                    raise BadRequest(f"Ad set {adset} is not in campaign {campaign}; it is in campaign "
                                     f"{found.campaign.meta_id}.")
                return found.campaign, found
            return (campaign_for(self.access, campaign), None) if campaign else (None, None)
        except (Campaign.DoesNotExist, AdSet.DoesNotExist):
            raise Http404(f"No {'ad set' if adset else 'campaign'} with Meta id {adset or campaign!r} here.") from None

    def url(self, **drill) -> str:
        """This page at the same period, drilled to `drill` (campaign= / adset=); sorts and pages start over."""
        params = QueryDict(mutable=True)
        for name in ("period", "from", "to"):
            if value := self.request.GET.get(name):
                params[name] = value
        params.update(drill)
        return f"{self.request.path}?{params.urlencode()}" if params else self.request.path

    @property
    def campaigns_url(self) -> str:
        return self.url()

    @property
    def campaign_url(self) -> str:
        return self.url(campaign=self.campaign.meta_id) if self.campaign else ""

    @property
    def settings_url(self) -> str:
        """Where to connect Meta, for a role that may open Settings."""
        return reverse("settings") if can_open(self.access.role, "settings") else ""

    @cached_property
    def kpis(self) -> KPIGroup:
        return KPIGroup(meta_kpis_for(self.access, self.period))

    @cached_property
    def hidden(self) -> str:
        """Why no insight can show at all (not connected, or a role without spend)."""
        return spend_hidden(self.access)

    @property
    def trends_empty(self) -> str:
        return self.hidden or f"Nothing of {self.scope_label} delivered in this period."

    @cached_property
    def days(self) -> list[dict]:
        return insights_by_day(self.access, self.period, campaign=self.campaign, adset=self.adset)

    @cached_property
    def delivered(self) -> bool:
        return any(d["impressions"] or d["spend"] for d in self.days)

    @cached_property
    def spend_chart(self) -> dict:
        return charts.meta_spend_leads(self.days)

    @cached_property
    def rates_chart(self) -> dict:
        return charts.meta_ctr_cpm(self.days)

    @cached_property
    def insights(self):
        return insights_by_level(self.access, self.period, campaign=self.campaign, adset=self.adset)

    @property
    def level_label(self) -> str:
        return LEVEL_LABELS[self.insights.level]

    @property
    def scope_label(self) -> str:
        """What the trends and the table cover."""
        if self.adset:
            return f"ad set {self.adset.name}"
        return f"campaign {self.campaign.name}" if self.campaign else "all campaigns"

    def _drill_url(self, key: str) -> str:
        level = self.insights.level
        return "" if level == "ad" else self.url(**({"campaign": key} if level == "campaign" else {"adset": key}))

    @cached_property
    def table(self):
        rows = [{**r, "url": self._drill_url(r["key"])} for r in self.insights.rows]
        return Table(self.request, name="meta-insights", rows=rows, default_sort="-spend", tiebreak="key",
                     totals=self.insights.totals, columns=[
                         Column("name", self.level_label.capitalize(), link="url"),
                         Column("status", "Status", help="Meta's effective status (why an active one may not deliver)"),
                         Column("spend", "Spend", kind="AED", help="Σ spend, insight dates in the period"),
                         Column("impressions", "Impressions", kind="count"),
                         Column("reach", "Reach (Σ daily)", kind="count", help=REACH_HELP),
                         Column("frequency", "Frequency", kind="×", help=FREQUENCY_HELP),
                         Column("ctr", "CTR", kind="%", help="Σ clicks (all) ÷ Σ impressions × 100"),
                         # "number": a table shows AED in whole dirhams, and a click costs a few.
                         Column("cpc", "CPC (AED)", kind="number", help="Σ spend ÷ Σ clicks (all)"),
                         Column("cpm", "CPM (AED)", kind="number", help="Σ spend ÷ Σ impressions × 1,000"),
                         Column("leads", "Leads", kind="count", help="Σ leads Meta reports"),
                         Column("purchases", "Purchases", kind="count", help="Σ purchases Meta reports"),
                         Column("purchase_value", "Purchase value", kind="AED", help="Σ purchase value Meta claims"),
                         Column("meta_roas", "Meta ROAS", kind="×", help="Σ purchase value ÷ Σ spend"),
                     ], empty_message=self.hidden or
                     f"No {self.level_label} of {self.scope_label} delivered in this period.")

    @cached_property
    def sync(self):
        return meta_sync_for(self.access)

    @property
    def can_sync(self) -> bool:
        """The Settings "Sync now" endpoint is admin-only and needs the credentials."""
        return bool(self.settings_url) and not self.sync.missing

    @cached_property
    def campaigns(self):
        rows = [{**c, "url": self.url(campaign=c["meta_id"])} for c in self.sync.campaigns]
        return Table(self.request, name="meta-campaigns", partial="meta-sync", rows=rows, default_sort="status_name",
                     tiebreak="meta_id", columns=[
                         Column("name", "Campaign", link="url"),
                         Column("status_name", "Status", help="the status set in Ads Manager"),
                         Column("effective", "Effective status",
                                help="Meta's effective status: whether it can deliver, and why not"),
                         Column("objective", "Objective"),
                         Column("daily_budget", "Daily budget", kind="AED"),
                         Column("start_time", "Started", kind="datetime"),
                         Column("stop_time", "Stops", kind="datetime"),
                     ], empty_message="No campaign synced from Meta yet.")


def meta_dashboard(request):
    """Spend, delivery and Meta's own results per campaign → ad set → ad, the period's KPIs against the prior
    period, daily trends, and the state of the Meta sync."""
    require_page(request, "meta-dashboard")
    page = MetaDashboardPage(request)
    if "export" in request.GET and (response := export_csv(request, page.table, page.campaigns)):
        return response
    return render_page(request, "marketing/meta_dashboard.html", {"period": page.period, "page": page}, META_PARTIALS)
