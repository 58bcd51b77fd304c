"""Deep Intelligence (DESIGN §7 row 3): a thin view. Each part of the page is computed when the template first
reads it, so an htmx request for one partial computes only its part."""

from functools import cached_property

from marketing import charts
from marketing import selectors_deep as sel
from marketing.metrics import insight_sums
from ptd.metrics import kpis
from ptd.tables import Column, Table, export_csv
from ptd.views import page_period, render_page, require_page

DEEP_KPIS = ["ghost_rate", "close_rate"]
DEEP_PARTIALS = ["deep-kpis", "baselines", "deep-funnel", "owner-health", "loss-reasons", "source-truth",
                 "assessment-truth"]
# The sections that read a month of leads or deals row by row (0.1–0.4 s on a 100,000-client workspace; true ROAS
# over 90 days ~10 s): the page does not wait for them; each asks for itself once the page has loaded.
LOADED_AFTER_PAGE = {"baselines", "deep-funnel", "loss-reasons", "assessment-truth"}
EXPORTS = {"funnel-stages": "funnel_table", "loss-reasons": "loss_table", "assessment-mismatches": "mismatches"}


class DeepIntelPage:
    """What /deep-intel/ shows; each part is computed on first read."""

    window_days = sel.MATCH_WINDOW.days

    def __init__(self, request):
        self.request, self.access, self.period = request, request.access, page_period(request)
        partial = request.GET.get("partial") if request.htmx else None
        # Which sections render their numbers now (the template reads ready.deep_funnel: no hyphens there).
        self.ready = {name.replace("-", "_"): name not in LOADED_AFTER_PAGE or partial == name for name in DEEP_PARTIALS}

    @cached_property
    def kpis(self):
        return kpis(DEEP_KPIS, self.period, self.access)

    @cached_property
    def baselines(self):
        return sel.baselines_for(self.access, self.period)

    @property
    def baseline_period(self):
        return sel.baseline_period(self.period)

    @cached_property
    def insights(self):
        """Meta's impressions, clicks and leads: read once for the funnel and the source truth."""
        return insight_sums(self.access, self.period)

    @cached_property
    def funnel(self):
        return sel.funnel_for(self.access, self.period, self.insights)

    @cached_property
    def funnel_chart(self):
        return charts.deep_funnel(self.funnel.shown) if any(s.count for s in self.funnel.steps) else None

    @cached_property
    def funnel_table(self):
        rows = [{"order": i, "label": s.label, "count": s.count, "from_before": s.from_before, "source": s.source}
                for i, s in enumerate(self.funnel.steps)]
        return Table(self.request, name="funnel-stages", partial="deep-funnel", rows=rows, default_sort="order",
                     per_page=len(rows), columns=[
                         Column("label", "Stage", sortable=False),
                         Column("count", "Entered in period", kind="count"),
                         Column("from_before", "Of the stage before", kind="%",
                                help="this stage's count ÷ the count of the stage before (a flow: may exceed 100 %)"),
                         Column("source", "Counted as", sortable=False),
                     ])

    @cached_property
    def owner_health(self):
        return sel.owner_health_for(self.access, self.period)

    @cached_property
    def losses(self):
        return sel.loss_reason_rows(self.access, self.period)

    @cached_property
    def loss_chart(self):
        return charts.loss_reasons(self.losses) if self.losses else None

    @cached_property
    def loss_table(self):
        totals = {"deals": sum(r["deals"] for r in self.losses), "value": sum(r["value"] for r in self.losses)}
        return Table(self.request, name="loss-reasons", rows=self.losses, default_sort="-deals", tiebreak="reason",
                     totals=totals if len(self.losses) > 1 else None, columns=[
                         Column("reason", "Loss reason"),
                         Column("deals", "Deals lost", kind="count", help="deals entering closed lost in the period"),
                         Column("value", "Value", kind="AED",
                                help="Σ amount of those deals (a deal lost before a package was chosen has none)"),
                     ], empty_message="No deal entered closed lost in this period.")

    @cached_property
    def sources(self):
        return sel.source_truth_for(self.access, self.period, self.insights)

    @cached_property
    def assessments(self):
        return sel.assessment_truth_for(self.access, self.period)

    @cached_property
    def mismatches(self):
        return Table(self.request, name="assessment-mismatches", partial="assessment-truth",
                     rows=sel.assessment_mismatch_rows(self.access, self.period), default_sort="at", tiebreak="record",
                     columns=[
                         Column("missing", "What is missing"),
                         Column("at", "When", kind="datetime",
                                help="when the deal entered held, or when the assessment was scheduled"),
                         Column("client", "Client", link="url", pii=True),
                         Column("client_ref", "Client ref", link="url"),
                         Column("who", "Owner / coach"),
                         Column("record", "Record"),
                     ], empty_message=f"Every assessment held in the CRM in this period has an attended assessment "
                                      f"of the same client within {self.window_days} days, and the other way round.")


def deep_intel(request):
    """Baselines, ghost and close rates, the 12-stage funnel, health by owner, loss reasons, and the lead and
    assessment truth checks of the period."""
    require_page(request, "deep-intel")
    page = DeepIntelPage(request)
    # Only the table asked for is computed.
    if (table := EXPORTS.get(request.GET.get("export", ""))) and (response := export_csv(request, getattr(page, table))):
        return response
    return render_page(request, "marketing/deep_intel.html", {"period": page.period, "page": page}, DEEP_PARTIALS)
