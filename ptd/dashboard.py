"""The executive page (DESIGN §7 row 1) at / and /dashboard/: the business at a glance, composed from the
metrics of the clients, finance and marketing apps. Thin: parse → selectors → render."""

from django.shortcuts import redirect

from finance import charts as finance_charts
from marketing import charts as marketing_charts
from ptd.models import Role
from ptd.selectors_dashboard import executive_kpis_for, leads_by_day_for, revenue_by_day_for
from ptd.views import page_period, render_page, require_page

# Each KPI group is a partial (its section id) refreshed by the live topics its numbers come from.
KPI_GROUPS = {
    "money": ["cash_collected", "lifetime_revenue"],
    "acquisition": ["new_leads", "cpl", "cpo"],
    "clients-health": ["active_members", "avg_health", "active_client_rate", "at_risk_revenue",
                       "pending_critical_interventions"],
}
CHARTS = ["revenue-trend", "leads-trend"]
LOADED_AFTER_PAGE = {"clients-health"}
PARTIALS = [*KPI_GROUPS, *CHARTS]


def executive(request):
    # Setters have their own page; "/" is where sign-in lands, so send them there rather than refuse.
    if request.access is not None and request.access.role == Role.SETTER:
        return redirect("setter-activity")
    require_page(request, "home")
    access, period = request.access, page_period(request)
    partial = request.GET.get("partial") if request.htmx else None
    # A live refresh computes only its own section; the page leaves out the slow one, which loads itself after.
    wanted = [partial] if partial in PARTIALS else [p for p in PARTIALS if p not in LOADED_AFTER_PAGE]
    context = {"period": period}
    for name in wanted:
        if name in KPI_GROUPS:
            context[name.replace("-", "_")] = executive_kpis_for(access, KPI_GROUPS[name], period)
    if "revenue-trend" in wanted:
        revenue = context["revenue"] = revenue_by_day_for(access, period)
        if not revenue.empty_reason:
            context["revenue_chart"] = finance_charts.revenue_trend(revenue.current, revenue.prior)
    if "leads-trend" in wanted:
        leads = context["leads"] = leads_by_day_for(access, period)
        if not leads.empty_reason:
            context["leads_chart"] = marketing_charts.new_leads_per_day(leads.current, leads.prior)
    return render_page(request, "ptd/dashboard.html", context, PARTIALS)
