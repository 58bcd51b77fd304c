"""Stripe Intelligence (DESIGN §7 row 11): thin views. Each part of the page is computed when the template
first reads it, so an htmx request for one partial computes only its part."""

from functools import cached_property

from django.core.exceptions import BadRequest, PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render

from finance import charts
from finance.metrics import finance_unavailable, trained_unpaid_sessions
from finance.models import FraudAlert, FraudStatus
from finance.selectors import (TRAINED_UNPAID_PEOPLE, fraud_alert_rows_for, fraud_assignees_for, evidence_links,
                               payout_rows_for, top_customer_rows_for, trained_unpaid_people_add,
                               trained_unpaid_rows_for)
from finance.services import fraud_alert_update
from ptd.metrics import kpis
from ptd.selectors_dashboard import KPIGroup, revenue_by_day_for
from ptd.tables import Column, Table, export_csv
from ptd.views import page_period, render_page, require_page, shown_partials

STRIPE_KPIS = ["gross_volume", "cash_collected", "refunds", "disputes", "failed_payments", "mrr",
               "active_subscriptions", "trained_but_unpaid"]
STRIPE_PARTIALS = ["stripe-kpis", "revenue-trend", "fraud-alerts", "payouts", "top-customers", "trained-unpaid"]
TEMPLATE = "finance/stripe.html"


class StripePage:
    """What /stripe/ shows; each part is computed on first read."""

    def __init__(self, request, period):
        self.request, self.access, self.period = request, request.access, period
        self.shown = shown_partials(request, STRIPE_PARTIALS)

    @cached_property
    def unavailable(self) -> str:
        """Why there are no Stripe figures at all (not connected), else ""."""
        return finance_unavailable(self.access)

    def _empty(self, message: str) -> str:
        return self.unavailable or message

    @cached_property
    def kpis(self) -> KPIGroup:
        if "trained-unpaid" in self.shown:
            # The table reads its contacts anyway: the card then counts them instead of reading who attended again.
            trained_unpaid_sessions(self.access, self.period)
        return KPIGroup(kpis(STRIPE_KPIS, self.period, self.access))

    @cached_property
    def revenue(self):
        return revenue_by_day_for(self.access, self.period)

    @cached_property
    def revenue_chart(self):
        return None if self.revenue.empty_reason else charts.revenue_trend(self.revenue.current, self.revenue.prior)

    @cached_property
    def fraud_alerts(self):
        return Table(self.request, name="fraud-alerts", rows=fraud_alert_rows_for(self.access, self.period),
                     default_sort="queue", tiebreak="-pk", columns=[
                         Column("created_at", "Raised", kind="datetime"),
                         Column("severity_label", "Severity", sortable=False),
                         Column("status_label", "Status", sortable=False),
                         Column("rule_label", "Rule"),
                         Column("title", "What was found", sortable=False),
                         Column("assignee_name", "Assignee"),
                     ], empty_message=self._empty(
                         "No fraud alert raised in this period and none open: forensics scans Stripe nightly at "
                         "02:00 and after new events."))

    @cached_property
    def alerts_shown(self) -> list[dict]:
        """The alerts on the shown page of the table, each with the links to its evidence."""
        return [{"alert": row, "links": evidence_links(row, is_admin=self.access.is_admin)}
                for row in self.fraud_alerts.page.object_list]

    @cached_property
    def assignees(self) -> list[tuple[int, str]]:
        return fraud_assignees_for(self.access) if self.access.is_admin else []

    statuses = FraudStatus.choices

    @cached_property
    def payouts(self):
        return Table(self.request, name="payouts", rows=payout_rows_for(self.access, self.period),
                     default_sort="-created", tiebreak="pk", columns=[
                         Column("stripe_id", "Payout", link="url"),
                         Column("created", "Created", kind="datetime"),
                         Column("arrival_date", "Expected arrival", kind="date",
                                help="Stripe's expected arrival day at the bank"),
                         Column("amount", "Amount", kind="AED"),
                         Column("status_label", "Status"),
                         Column("failure_message", "Why it failed", sortable=False),
                     ], empty_message=self._empty("No AED payout was created in this period."))

    @cached_property
    def top_customers(self):
        return Table(self.request, name="top-customers", rows=top_customer_rows_for(self.access),
                     default_sort="-ltv", tiebreak="pk", columns=[
                         Column("customer", "Customer", link="url", pii=True),
                         Column("stripe_id", "Stripe customer", link="url"),
                         Column("ltv", "Lifetime value", kind="AED",
                                help="Σ successful payments − Σ refunds of this customer, all time"),
                     ], empty_message=self._empty(
                         "No customer has a lifetime value yet: the Stripe sync keeps it (successful payments − "
                         "refunds) as payments arrive."))

    @cached_property
    def trained_unpaid(self):
        table = Table(self.request, name="trained-unpaid", rows=[],
                      default_sort="-sessions", tiebreak="contact_id", columns=[
                          Column("client", "Client", link="url", pii=True),
                          Column("ref", "Client ref", link="url"),
                          Column("coach_name", "Coach"),
                          Column("sessions", "Sessions attended", kind="count", help="attended sessions in the period"),
                          Column("last_session", "Last session", kind="datetime"),
                          Column("last_paid", "Last payment", kind="datetime",
                                 help="their last successful Stripe payment before the period end (— never)"),
                      ], empty_message=self._empty(
                          "Every client who trained in this period paid in the 90 days before its end."))
        # Names, coaches and last payments are looked up for the shown page only, but the column the table is sorted
        # by for every row (all three for a CSV of every row).
        if self.request.GET.get("export") == table.name and self.request.GET.get("rows") == "all":
            everyone = TRAINED_UNPAID_PEOPLE
        else:
            everyone = tuple(column for column in TRAINED_UNPAID_PEOPLE if column == table.sort[0])
        table.rows = trained_unpaid_rows_for(self.access, self.period, people=everyone)
        trained_unpaid_people_add(self.access, self.period, table.page.object_list,
                                  [column for column in TRAINED_UNPAID_PEOPLE if column not in everyone])
        return table


def stripe_intelligence(request):
    """Gross volume, net revenue, refunds, disputes, failed payments, MRR, subscriptions; the net revenue trend;
    fraud alerts (admins work them inline); payouts; top customers by lifetime value; trained but unpaid."""
    require_page(request, "stripe")
    page = StripePage(request, page_period(request))
    if request.method == "POST":
        return _fraud_alert_post(request, page)
    if "export" in request.GET and (response := export_csv(request, page.fraud_alerts, page.payouts,
                                                           page.top_customers, page.trained_unpaid)):
        return response
    return render_page(request, TEMPLATE, {"period": page.period, "page": page}, STRIPE_PARTIALS)


def _fraud_alert_post(request, page: StripePage):
    """Change one alert's status and assignee (finance.services.fraud_alert_update decides who may). HTMX gets
    the alerts section back; a plain form post is sent back to the page."""
    alert, assignee = request.POST.get("alert", "").strip(), request.POST.get("assignee", "").strip()
    if not alert.isdigit():
        raise BadRequest("Which alert? The form must send its id in the field 'alert'.")
    if assignee and not assignee.isdigit():
        raise BadRequest(f"Unknown assignee {assignee!r}: assignee must be a user id, or empty for nobody.")
    try:
        fraud_alert_update(alert_id=int(alert), actor_access=request.access, status=request.POST.get("status", ""),
                           assignee_id=int(assignee) if assignee else None)
    except PermissionError as exc:
        raise PermissionDenied(str(exc)) from exc
    except FraudAlert.DoesNotExist:
        raise Http404("No such fraud alert in this workspace.") from None
    except ValueError as exc:
        raise BadRequest(f"Not saved: {exc}.") from exc
    if request.htmx:
        return render(request, f"{TEMPLATE}#fraud-alerts", {"period": page.period, "page": page})
    return redirect(page.fraud_alerts.url())
