"""Sales pipeline (DESIGN §7 row 5) and sales coach tracker (row 7): thin views. Each page's numbers are
computed when the template first reads them, so an htmx request for one partial computes only its part."""

from functools import cached_property

from clients import charts
from clients.selectors_sales import (aging_for, closer_results_and_sales_for, closer_results_for,
                                     closer_sales_by_month_for, month_of, monthly_totals_of, months_up_to,
                                     open_deal_rows_for, pipeline_stages_for, totals_of)
from ptd.metrics import kpi, kpis
from ptd.tables import Column, Table, export_csv
from ptd.views import page_period, render_page, require_page, shown_partials

PIPELINE_KPIS = ["conversion_rate", "close_rate", "ghost_rate", "answer_rate", "cash_collected", "collection_rate"]
PIPELINE_PARTIALS = ["pipeline-kpis", "funnel", "aging", "open-deals"]
TRACKER_KPIS = ["assessments_held", "deals_won", "close_rate", "collection_rate"]
TRACKER_PARTIALS = ["tracker-kpis", "closers", "sales-history"]
HISTORY_MONTHS = 6


class PipelinePage:
    """What /sales-pipeline/ shows; each part is computed on first read."""

    def __init__(self, request, period):
        self.request, self.access, self.period = request, request.access, period

    @cached_property
    def kpis(self):
        return kpis(PIPELINE_KPIS, self.period, self.access)

    @cached_property
    def stages(self):
        return pipeline_stages_for(self.access, self.period)

    @cached_property
    def funnel_chart(self):
        return charts.pipeline_funnel(self.stages)

    @cached_property
    def value_chart(self):
        return charts.open_pipeline_value(self.stages)

    @cached_property
    def stage_table(self):
        return Table(self.request, name="stages", partial="funnel", default_sort="order", rows=[
            s.as_row(i) for i, s in enumerate(self.stages)], columns=[
            Column("label", "Stage", sortable=False),
            Column("entered", "Entered in period", kind="count",
                   help="deals entering the stage in the period (stage volume)"),
            Column("to_next", "Moved on to next stage", kind="%",
                   help="of the deals entering this stage in the period, the share that reached the next stage by now"),
            Column("next_label", "Next stage", sortable=False),
            Column("open_deals", "Open deals now", kind="count", help="deals in this stage now"),
            Column("open_value", "Value now", kind="AED", help="Σ amount of the deals in this stage now"),
        ], empty_message="No pipeline stages are mapped to funnel steps — an admin maps them in Settings.")

    @cached_property
    def aging(self):
        return aging_for(self.access)

    @cached_property
    def open_deals(self):
        return Table(self.request, name="open-deals", rows=open_deal_rows_for(self.access), default_sort="-days_in_stage",
                     tiebreak="pk", columns=[
                         Column("client", "Client", link="url", pii=True),
                         Column("ref", "Deal", link="url"),
                         Column("owner_name", "Owner"),
                         Column("stage", "Stage"),
                         Column("in_stage_since", "In stage since", kind="datetime"),
                         Column("days_in_stage", "Days in stage", kind="count",
                                help="whole days since the deal entered its current stage"),
                         Column("amount", "Amount", kind="AED"),
                         Column("cash_collected", "Cash collected", kind="AED",
                                help="Stripe payments linked to the deal, net of refunds"),
                     ], empty_message="No open deals: every deal you can see is closed won or closed lost.")


def sales_pipeline(request):
    """Stage volumes and values, the funnel with cohort conversion, rates, cash and the aging of open deals."""
    require_page(request, "sales-pipeline")
    page = PipelinePage(request, page_period(request))
    if "export" in request.GET and (response := export_csv(request, page.stage_table, page.open_deals)):
        return response  # (the tables are only built when asked for: a partial computes only its part)
    return render_page(request, "clients/sales_pipeline.html", {"period": page.period, "page": page},
                       PIPELINE_PARTIALS)


class TrackerPage:
    """What /sales-coach-tracker/ shows; the month is the calendar month containing the period's last day."""

    def __init__(self, request, period):
        self.request, self.access, self.period = request, request.access, period
        self.months = months_up_to(month_of(period.last_day, period.tz), HISTORY_MONTHS)
        self.month = self.months[-1]

    @cached_property
    def kpis(self):
        return [*kpis(TRACKER_KPIS, self.period, self.access), kpi("monthly_sales", self.month, self.access)]

    @cached_property
    def _closer_rows(self) -> tuple[list[dict] | None, list[dict] | None]:
        """(the closers table's rows, the sales history's) for the sections this response renders, None for one it
        does not: with both, one read; the history alone reads only the wins (not the period's held and lost)."""
        shown = shown_partials(self.request, TRACKER_PARTIALS)
        if "sales-history" not in shown:
            return closer_results_for(self.access, self.period, self.month), None
        if "closers" not in shown:
            return None, closer_sales_by_month_for(self.access, self.months)
        return closer_results_and_sales_for(self.access, self.period, self.months)

    @property
    def rows(self):
        return self._closer_rows[0]

    @property
    def history_rows(self):
        return self._closer_rows[1]

    @cached_property
    def totals(self):
        return totals_of(self.rows)

    @cached_property
    def closers(self):
        return Table(self.request, name="closers", rows=self.rows, default_sort="-month_sales", columns=[
            Column("name", "Coach / closer", link="url"),
            Column("month_sales", f"Sales in {self.month.first_day:%b %Y}", kind="AED",
                   help=f"Σ amount of their deals won in the whole of {self.month.label} — every deal, no limit"),
            Column("target", "Monthly target", kind="AED", help="set per coach by an admin (Staff → monthly target)"),
            Column("target_pct", "% of target", kind="%", help="sales in the month ÷ monthly target"),
            Column("held", "Assessments held", kind="count", help="their deals entering assessment held in the period"),
            Column("won", "Deals won", kind="count", help="their deals entering closed won in the period"),
            Column("lost", "Deals lost", kind="count", help="their deals entering closed lost in the period"),
            Column("close_rate", "Close rate", kind="%", help="won ÷ (won + lost), in the period"),
            Column("won_value", "Won value", kind="AED", help="Σ amount of their deals won in the period"),
            Column("cash", "Cash collected", kind="AED",
                   help="Σ cash collected (Stripe payments linked to the deal, net of refunds) on their deals won in "
                        "the period"),
            Column("collection_rate", "Collection rate", kind="%", help="cash collected ÷ won value"),
        ], totals=self.totals if len(self.rows) > 1 else None,
            empty_message="No coach or closer yet: staff come from HubSpot owners of kind coach or admin.")

    @cached_property
    def target_chart(self):
        return charts.sales_vs_target(self.rows, self.month.label)

    @property
    def target_chart_note(self) -> str:
        """What the chart leaves out, said above it."""
        if len(self.rows) <= charts.CHART_BARS:
            return ""
        return f"The {charts.CHART_BARS} best sellers of {len(self.rows):,}; the table above has every one."

    @cached_property
    def history(self):
        month_keys = [f"m{i}" for i in range(len(self.months))]  # the columns' keys, oldest month first
        rows = [{"pk": r["pk"], "name": r["name"], "url": r["url"], "total": sum(r["sales"]),
                 **dict(zip(month_keys, r["sales"]))} for r in self.history_rows]
        sales = monthly_totals_of(self.history_rows)
        return Table(self.request, name="sales-history", rows=rows, default_sort="-total", columns=[
            Column("name", "Coach / closer", link="url"),
            *(Column(key, m.first_day.strftime("%b %Y"), kind="AED", help=f"Σ amount of their deals won in {m.label}")
              for key, m in zip(month_keys, self.months)),
            Column("total", f"{len(self.months)} months", kind="AED"),
        ], totals={"total": sum(sales), **dict(zip(month_keys, sales))} if len(rows) > 1 else None,
            empty_message="No coach or closer yet: staff come from HubSpot owners of kind coach or admin.")


def sales_coach_tracker(request):
    """Per coach/closer: assessments held, deals won, close rate, cash collected, the whole month's sales
    against target and the last six months, with totals over every row."""
    require_page(request, "sales-coach-tracker")
    page = TrackerPage(request, page_period(request))
    if "export" in request.GET and (response := export_csv(request, page.closers, page.history)):
        return response
    return render_page(request, "clients/sales_coach_tracker.html", {"period": page.period, "page": page},
                       TRACKER_PARTIALS)
