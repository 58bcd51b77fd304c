"""Marketing Intelligence (DESIGN §7 row 2): a thin view. The KPI cards are the registered metrics (first touch,
cash basis); the attribution model and basis in the URL move the per-ad credit only. Each part is computed when
the template first reads it, so an htmx request for one partial computes only its part."""

from functools import cached_property

from marketing import charts
from marketing.metrics import spend_hidden
from marketing.selectors_intel import ad_funnel_for, ad_roas_rows, intel_kpis_for
from marketing.views import AttributionChoice
from ptd.selectors_dashboard import KPIGroup
from ptd.tables import Column, Table, export_csv
from ptd.views import render_page, require_page

PARTIALS = ["intel-kpis", "ad-funnel", "ad-roas-chart", "ad-roas"]


class IntelligencePage(AttributionChoice):
    """What /marketing-intelligence/ shows; each part is computed on first read."""

    @cached_property
    def kpis(self) -> KPIGroup:
        return KPIGroup(intel_kpis_for(self.access, self.period))

    @cached_property
    def funnel(self):
        return ad_funnel_for(self.access, self.period)

    @cached_property
    def funnel_chart(self):
        return None if self.funnel.empty else charts.ad_funnel(self.funnel.shown)

    @cached_property
    def ads(self) -> list[dict]:
        return ad_roas_rows(self.access, self.period, model=self.model, basis=self.basis)

    @cached_property
    def ads_chart(self):
        return charts.ad_roas(self.ads) if any(r["spend"] for r in self.ads) else None

    @cached_property
    def table(self):
        # An ad opens its ad set's ads in the money map (with their leads, bookings and costs).
        rows = [{**r, "url": self.url("/money-map/", adset=r["adset"]) if r["adset"] else ""} for r in self.ads]
        return Table(self.request, name="ad-roas", rows=rows, default_sort="-spend", tiebreak="key", columns=[
            Column("name", "Ad", link="url"),
            Column("campaign", "Campaign"),
            Column("spend", "Spend", kind="AED", help="Σ Meta ad spend, insight dates in the period"),
            Column("meta_value", "Meta-claimed value", kind="AED",
                   help="purchase value Meta reports for the ad, insight dates in the period"),
            Column("meta_roas", "Meta ROAS", kind="×", help="Meta-claimed value ÷ spend"),
            Column("cash", "Net cash credited", kind="AED",
                   help=f"Stripe payments − refunds − lost disputes credited to the ad ({self.label})"),
            Column("roas", "True ROAS", kind="×", help="net cash credited ÷ spend"),
            Column("gap", "Gap", kind="×", help="true ROAS − Meta ROAS: negative when Meta claims more than was paid"),
        ], empty_message=spend_hidden(self.access) or "No spend and no ad-attributed payment in this period.")


def marketing_intelligence(request):
    """The ad KPIs with their prior-period deltas, the ad funnel from impressions to paid, and Meta's ROAS per ad
    beside the true one on the chosen model and basis."""
    require_page(request, "marketing-intelligence")
    page = IntelligencePage(request)
    if "export" in request.GET and (response := export_csv(request, page.table)):
        return response
    return render_page(request, "marketing/marketing_intelligence.html", {"period": page.period, "page": page},
                       PARTIALS)
