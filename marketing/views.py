"""Attribution War Room (DESIGN §7 row 9) and Campaign Money Map (row 4): thin views. The attribution model and
basis are GET parameters validated like the period; each part of a page is computed when the template first
reads it, so an htmx request for one partial computes only its part."""

from functools import cached_property

from django.core.exceptions import BadRequest
from django.http import Http404

from marketing import charts
from marketing.attribution import BASES, LEVELS, MODELS, MONEY_OUTCOMES, attributed
from marketing.metrics import spend_hidden
from marketing.models import AdSet, Campaign
from marketing.selectors import (adset_for, attribution_kpis_for, campaign_for,
                                 claims_without_payment_rows, money_map_for, money_map_row, payments_without_deal_rows,
                                 truth_triangle_for, won_without_payment_rows)
from ptd.selectors_dashboard import KPIGroup
from ptd.tables import Column, Table, export_csv
from ptd.views import page_period, render_page, require_page, shown_partials

MODEL_LABELS = {"first": "First touch", "last": "Last touch", "linear": "Linear"}
BASIS_LABELS = {"cash": "Cash (payment date)", "cohort": "Cohort (lead date)"}
LEVEL_LABELS = {"campaign": "campaign", "adset": "ad set", "ad": "ad"}
ATTRIBUTION_PARTIALS = ["attribution-kpis", "truth-triangle", "credit-by-campaign", "won-unpaid", "paid-no-deal",
                        "claimed-unpaid"]
MONEY_MAP_PARTIALS = ["money-map-chart", "money-map"]


def _choice(request, name: str, valid: tuple[str, ...], default: str, plural: str) -> str:
    """A GET parameter that must be one of `valid`; a bad one is a 400 that names the valid choices."""
    value = request.GET.get(name) or default
    if value not in valid:
        raise BadRequest(f"Unknown attribution {name} {value!r}; valid {plural}: {', '.join(valid)}.")
    return value


class AttributionChoice:
    """The period, model and basis of an attribution page, from the URL."""

    def __init__(self, request):
        self.request, self.access, self.period = request, request.access, page_period(request)
        self.model = _choice(request, "model", MODELS, "first", "models")
        self.basis = _choice(request, "basis", BASES, "cash", "bases")
        self.models = [(m, MODEL_LABELS[m]) for m in MODELS]
        self.bases = [(b, BASIS_LABELS[b]) for b in BASES]

    @property
    def label(self) -> str:
        return f"{MODEL_LABELS[self.model].lower()}, {self.basis} basis"

    def url(self, path: str, **changes) -> str:
        """`path` with this page's period, model and basis (and `changes`; None drops a parameter)."""
        params = self.request.GET.copy()
        for name in ("partial", "export", "rows", "campaign", "adset", "level"):
            params.pop(name, None)
        for name in [n for n in params if n.endswith(("-page", "-sort"))]:
            params.pop(name)
        for name, value in changes.items():
            if value is not None:
                params[name] = value
        query = params.urlencode()
        return f"{path}?{query}" if query else path


def _counted(model: str) -> str:
    """Linear credit splits a lead across ads: counts are then shares with a decimal."""
    return "number" if model == "linear" else "count"


# The record lists sit below the fold and each reads a month of deals, payments or events: the page is sent
# without them and each loads itself once the page is shown (its own partial), so the numbers come first.
LOADED_AFTER_PAGE = ("won-unpaid", "paid-no-deal", "claimed-unpaid")


class AttributionPage(AttributionChoice):
    """What /attribution/ shows; each part is computed on first read."""

    @cached_property
    def lists_shown(self) -> set[str]:
        """Which record lists this response carries: the one a partial asks for; with the whole page, those whose
        sort or page is in the URL (a link followed without HTMX)."""
        if self.request.htmx:
            return shown_partials(self.request, ATTRIBUTION_PARTIALS) & set(LOADED_AFTER_PAGE)
        return {name for name in LOADED_AFTER_PAGE
                if f"{name}-sort" in self.request.GET or f"{name}-page" in self.request.GET}

    @cached_property
    def kpis(self) -> KPIGroup:
        return KPIGroup(attribution_kpis_for(self.access, self.period, basis=self.basis))

    @cached_property
    def triangle(self):
        return truth_triangle_for(self.access, self.period)

    @cached_property
    def triangle_chart(self):
        return charts.truth_triangle(self.triangle.triangle)

    @cached_property
    def credit(self):
        rows = [{**money_map_row(r), "meta_value": r.meta_value, "meta_roas": r.meta_roas,
                 "url": self.url("/money-map/", campaign=r.key) if r.key else ""}
                for r in attributed(access=self.access, period=self.period, model=self.model, basis=self.basis,
                                    outcomes=MONEY_OUTCOMES)]  # the table shows money alone
        return Table(self.request, name="credit", partial="credit-by-campaign", rows=rows, default_sort="-cash",
                     tiebreak="key", columns=[
                         Column("name", "Campaign", link="url"),
                         Column("spend", "Spend", kind="AED"),
                         Column("cash", "Net cash credited", kind="AED",
                                help=f"Stripe payments − refunds − lost disputes credited to the campaign ({self.label})"),
                         Column("roas", "True ROAS", kind="×", help="net cash credited ÷ spend"),
                         Column("meta_value", "Meta-claimed value", kind="AED",
                                help="purchase value Meta reports for the campaign, insight dates in the period"),
                         Column("meta_roas", "Meta ROAS", kind="×", help="Meta-claimed value ÷ spend"),
                     ], empty_message=spend_hidden(self.access) or
                     "No spend and no ad-attributed payment in this period.")

    @cached_property
    def won_unpaid(self):
        return Table(self.request, name="won-unpaid", rows=won_without_payment_rows(self.access, self.period),
                     default_sort="won_at", tiebreak="pk", columns=[
                         Column("deal", "Deal"),
                         Column("client", "Client", link="url", pii=True),
                         Column("client_ref", "Client ref", link="url"),
                         Column("owner_name", "Owner"),
                         Column("won_at", "Won", kind="datetime", help="when the deal entered closed won"),
                         Column("amount", "Amount", kind="AED"),
                     ], empty_message="Every deal won in this period has a Stripe payment linked to it.")

    @cached_property
    def paid_no_deal(self):
        return Table(self.request, name="paid-no-deal", rows=payments_without_deal_rows(self.access, self.period),
                     default_sort="created", tiebreak="pk", columns=[
                         Column("stripe_id", "Charge"),
                         Column("created", "Paid", kind="datetime"),
                         Column("client", "Client", link="url", pii=True),
                         Column("client_ref", "Client ref", link="url"),
                         Column("customer_name", "Stripe customer", pii=True),
                         Column("amount", "Amount", kind="AED"),
                         Column("currency", "Currency"),
                         Column("status_label", "Status"),
                     ], empty_message="Every payment of this period is linked to a deal.")

    @cached_property
    def claimed_unpaid(self):
        return Table(self.request, name="claimed-unpaid", rows=claims_without_payment_rows(self.access, self.period),
                     default_sort="occurred_at", tiebreak="pk", columns=[
                         Column("external_id", "Event"),
                         Column("transaction", "Transaction id"),
                         Column("occurred_at", "Claimed", kind="datetime"),
                         Column("client", "Client", link="url", pii=True),
                         Column("client_ref", "Client ref", link="url"),
                         Column("value", "Claimed value", kind="AED"),
                     ], empty_message="Every purchase the attribution tool claimed in this period matches a Stripe "
                                      "payment.")


def attribution(request):
    """True ROAS, Meta's ROAS and integrity, the truth triangle with its gaps, credit per campaign on the chosen
    model and basis, and the records behind each gap."""
    require_page(request, "attribution")
    page = AttributionPage(request)
    if "export" in request.GET and (response := export_csv(request, page.credit, page.won_unpaid, page.paid_no_deal,
                                                           page.claimed_unpaid)):
        return response
    return render_page(request, "marketing/attribution.html", {"period": page.period, "page": page},
                       ATTRIBUTION_PARTIALS)


class MoneyMapPage(AttributionChoice):
    """What /money-map/ shows: one row per campaign, or the ad sets of ?campaign=, or the ads of ?adset=, or
    every ad set / ad with ?level=."""

    def __init__(self, request):
        super().__init__(request)
        self.campaign, self.adset = self._drilled()
        # The level asked for, when not drilled into a campaign or ad set (which decides the level itself).
        self.level = _choice(request, "level", LEVELS, "campaign", "levels")

    def _drilled(self) -> tuple[Campaign | None, AdSet | None]:
        campaign, adset = self.request.GET.get("campaign", ""), self.request.GET.get("adset", "")
        try:
            return (None, adset_for(self.access, adset)) if adset else (
                (campaign_for(self.access, campaign), None) if campaign else (None, None))
        except (Campaign.DoesNotExist, AdSet.DoesNotExist):
            raise Http404(f"No {'ad set' if adset else 'campaign'} with Meta id {adset or campaign!r} here.") from None

    @property
    def keep(self) -> dict:
        """The drill-down the model / basis form must keep."""
        return {name: self.request.GET.get(name, "") for name in ("campaign", "adset", "level")}

    @property
    def campaigns_url(self) -> str:
        return self.url(self.request.path)

    @property
    def campaign_url(self) -> str:
        return self.url(self.request.path, campaign=self.campaign.meta_id) if self.campaign else ""

    @property
    def adsets_url(self) -> str:
        return self.url(self.request.path, level="adset")

    @property
    def ads_url(self) -> str:
        return self.url(self.request.path, level="ad")

    @cached_property
    def map(self):
        return money_map_for(self.access, self.period, model=self.model, basis=self.basis, level=self.level,
                             campaign=self.campaign, adset=self.adset)

    @property
    def level_label(self) -> str:
        return LEVEL_LABELS[self.map.level]

    @cached_property
    def chart(self):
        return charts.money_map(self.map.rows, self.level_label) if any(r["spend"] for r in self.map.rows) else None

    def _drill_url(self, key: str) -> str:
        if not key or self.map.level == "ad":
            return ""
        return self.url("/money-map/", **({"campaign": key} if self.map.level == "campaign" else {"adset": key}))

    @cached_property
    def table(self):
        counted = _counted(self.model)
        rows = [{**r, "url": self._drill_url(r["key"])} for r in self.map.rows]
        return Table(self.request, name="money-map", rows=rows, default_sort="-spend", tiebreak="key",
                     totals=self.map.totals, columns=[
                         Column("name", self.level_label.capitalize(), link="url"),
                         Column("status", "Verdict", help="Too early below the minimum spend (default AED 1,000); "
                                                          "else Scale when ROAS > 2; else Kill"),
                         Column("roas", "ROAS", kind="×", help="cash ÷ spend"),
                         Column("spend", "Spend", kind="AED", help="Σ Meta ad spend, insight dates in the period"),
                         Column("cash", "Cash", kind="AED",
                                help="credited Stripe payments − refunds − lost disputes (net cash)"),
                         Column("leads", "Leads", kind=counted, help=f"credited leads created ({self.label})"),
                         Column("booked", "Booked", kind=counted, help="credited deals entering assessment booked"),
                         Column("held", "Held", kind=counted, help="credited deals entering assessment held"),
                         Column("deals", "Deals", kind=counted, help="credited deals created"),
                         Column("cpl", "CPL", kind="AED", help="spend ÷ leads"),
                         Column("cost_per_booked", "Cost per booked", kind="AED", help="spend ÷ booked"),
                         Column("cost_per_held", "Cost per held", kind="AED", help="spend ÷ held"),
                         Column("cost_per_deal", "Cost per deal", kind="AED", help="spend ÷ deals"),
                     ], empty_message=spend_hidden(self.access) or
                     f"No spend and no ad-attributed lead, deal or payment for any {self.level_label} in this period.")


def money_map(request):
    """Per campaign (drill-down to ad set and ad): spend, leads, booked, held, deals, cash, the cost of each step,
    ROAS and the Scale / Kill / Too early verdict, on the chosen model and basis."""
    require_page(request, "money-map")
    page = MoneyMapPage(request)
    if "export" in request.GET and (response := export_csv(request, page.table)):
        return response
    return render_page(request, "marketing/money_map.html", {"period": page.period, "page": page}, MONEY_MAP_PARTIALS)
