"""Setter activity (DESIGN §7 row 6): calls grouped by the setter who made them, leads and bookings by the
setter who owns the lead, the setter funnel matrix, the leads still waiting for a first call, and the
setter leaderboard. Thin: parse → selectors / metrics → render; a partial computes only what it shows."""

from django.urls import reverse

from clients import charts
from clients import selectors_setters as sel
from finance.models import Payment
from ptd.metrics import kpis
from ptd.models import Role
from ptd.navigation import can_open
from ptd.scoping import role_may_see
from ptd.selectors import configured_credentials
from ptd.tables import Column, Table, export_csv
from ptd.views import page_period, render_page, require_page

KPI_NAMES = ["new_leads", "answer_rate", "reach_rate", "speed_to_first_call", "sla_compliance", "show_rate"]
PARTIALS = ["kpis", "waiting", "charts", "setters", "funnel", "leaderboard", "calls"]
TABLES = {"waiting", "setters", "funnel", "leaderboard", "calls"}  # each table is its own section
CALLGEAR_CREDENTIALS = {"CALLGEAR_ACCESS_TOKEN", "CALLGEAR_WEBHOOK_TOKEN"}
NO_SETTERS = "No setters yet: setters are the HubSpot owners whose staff kind is setter (Django admin → Staff)."

SETTER = Column("setter", "Setter")
ACTIVITY_COLUMNS = [
    SETTER,
    Column("calls", "Calls", "count", help="calls this setter made in the period (matched to a lead or not)"),
    Column("reach_rate", "Reach rate", "%", help="distinct leads with an answered call ÷ distinct leads called"),
    Column("talk_minutes", "Talk time", "minutes", help="Σ talk time of their calls"),
    Column("leads_touched", "Leads touched", "count", help="distinct leads they called"),
    Column("speed_minutes", "Speed to first call", "minutes",
           help="median minutes from creation to first call, their leads created in the period"),
    Column("sla_pct", "SLA compliance", "%",
           help="their leads first called within the SLA ÷ their leads created in the period (no call = breach)"),
    Column("booked", "Booked", "count", help="deals of their leads that entered Assessment booked in the period"),
    Column("show_rate", "Show rate", "%", help="of those bookings, the share held by now"),
    Column("ghost_rate", "Ghost rate", "%", help="100 % − show rate"),
]
CASH = Column("cash", "Cash from their bookings", "AED",
              help="Σ cash collected on the deals of their leads booked in the period")
FUNNEL_COLUMNS = [
    SETTER,
    Column("leads", "Leads", "count", help="leads they own created in the period"),
    Column("booked", "Booked", "count", help="deals of their leads that entered Assessment booked in the period"),
    Column("held", "Held", "count", help="of those bookings, held by now"),
    Column("won", "Won", "count", help="of those bookings, won by now"),
    Column("lost", "Lost", "count", help="of those bookings, lost by now"),
    Column("lead_to_deal_pct", "Lead → deal", "%",
           help="their leads created in the period with a deal by now ÷ those leads"),
    Column("show_rate", "Booked → held", "%", help="held ÷ booked (show rate)"),
    Column("held_won_rate", "Held → won", "%",
           help="of their deals that entered Assessment held in the period, the share won by now"),
    Column("ghost_rate", "Ghost", "%", help="100 % − booked → held"),
    Column("verdict", "Setter verdict", help="booked → held against the setter thresholds (DESIGN §6)"),
]
LEADERBOARD_COLUMNS = [
    Column("rank", "Rank", "count"),
    SETTER,
    Column("calls", "Calls", "count"),
    Column("reached", "Reached", "count", help="distinct leads with an answered call"),
    Column("booked", "Booked", "count", help="deals of their leads that entered Assessment booked in the period"),
]
WAITING_COLUMNS = [
    Column("name", "Lead", link="url", pii=True),
    Column("phone", "Phone", link="tel", pii=True),
    Column("owner_name", "Setter"),
    Column("lead_source", "Source"),
    Column("created_at", "Created", "datetime"),
    Column("waiting", "Waiting", sortable=False, help="time since the lead was created (sort by Created)"),
]
CALL_COLUMNS = [
    Column("started_at", "Started", "datetime"),
    Column("lead", "Lead", link="url", pii=True),
    Column("phone", "Phone", link="tel", pii=True),
    Column("setter", "Setter"),
    Column("direction_label", "Direction"),
    Column("outcome_label", "Outcome"),
    Column("talk_minutes", "Talk time", "minutes"),
]


def setter_activity(request, **kwargs):
    require_page(request, "setter-activity")
    access = request.access
    period = page_period(request, default="today")
    sla, sla_row = sel.setter_sla_minutes(access.workspace)
    board = sel.SetterBoard(access, period, sla)
    client_prefix = (reverse("client-detail", kwargs={"contact_id": 0}).removesuffix("0/")
                     if can_open(access.role, "clients") else "")
    # Only what is asked for is computed: one table for a CSV export, one section for an htmx partial.
    export, partial = request.GET.get("export"), request.GET.get("partial") if request.htmx else None
    sections = [export] if export in TABLES else [partial] if partial in PARTIALS else PARTIALS

    is_setter = access.role == Role.SETTER
    context = {"period": period, "sla_minutes": sla, "is_admin": access.is_admin, "is_setter": is_setter,
               "sla_edit_url": (reverse("admin:ptd_benchmark_change", args=[sla_row.pk]) if sla_row
                                else reverse("admin:ptd_benchmark_add")) if access.is_admin else ""}
    calls_empty, calls_empty_action = _calls_empty(access, period, sections)
    context.update(calls_empty=calls_empty, calls_empty_action=calls_empty_action)
    tables = []
    if "kpis" in sections:
        context["kpis"] = kpis(KPI_NAMES, period, access)
    if "waiting" in sections:
        context["waiting"] = Table(request, name="waiting", columns=_list_columns(WAITING_COLUMNS, is_setter),
                                   rows=sel.leads_waiting(access, period, client_url_prefix=client_prefix),
                                   partial="waiting",
                                   default_sort="created_at", tiebreak="pk",
                                   empty_message="No lead created in this period is waiting: every one has had a call.")
        tables.append(context["waiting"])
    if "charts" in sections:
        context["hour_chart"] = charts.calls_by_hour(sel.calls_by_hour(access, period), period.tz.key)
        speed = sel.speed_to_lead_distribution(access, period, sla)
        context["speed_chart"] = charts.speed_to_lead(speed) if any(n for _, n, _ in speed) else None
    if "setters" in sections:
        columns = ACTIVITY_COLUMNS + ([CASH] if role_may_see(Payment, access) else [])
        context["setters"] = Table(request, name="setters", columns=columns, rows=board.activity, partial="setters",
                                   default_sort="-calls", empty_message=_no_setters(access))
        tables.append(context["setters"])
    if "funnel" in sections:
        context["funnel"] = Table(request, name="funnel", columns=FUNNEL_COLUMNS, partial="funnel",
                                  rows=sel.with_verdicts(board.activity, access.workspace), default_sort="-leads",
                                  empty_message=_no_setters(access))
        tables.append(context["funnel"])
    if "leaderboard" in sections:
        context["leaderboard"] = Table(request, name="leaderboard", columns=LEADERBOARD_COLUMNS, partial="leaderboard",
                                       rows=sel.leaderboard(access, period, board), default_sort="rank",
                                       empty_message=NO_SETTERS)
        tables.append(context["leaderboard"])
    if "calls" in sections:
        context["calls"] = Table(request, name="calls", columns=_list_columns(CALL_COLUMNS, is_setter),
                                 rows=sel.calls_list(access, period, client_url_prefix=client_prefix),
                                 partial="calls", tiebreak="pk",
                                 default_sort="-started_at", empty_message=calls_empty or "No calls in this period.")
        tables.append(context["calls"])
    if (response := export_csv(request, *tables)):
        return response
    return render_page(request, "clients/setter_activity.html", context, PARTIALS)


def _calls_empty(access, period, sections) -> tuple[str, str]:
    """Why there are no calls when there are none in the period (else ""), and where an admin fixes it."""
    if not {"charts", "calls"} & set(sections) or sel.calls_in(access, period).exists():
        return "", ""
    if not sel.calls_any(access) and not CALLGEAR_CREDENTIALS & configured_credentials(access.workspace):
        return "CallGear not connected — add the token in Settings.", reverse("settings") if access.is_admin else ""
    return "No calls in this period.", ""


def _list_columns(columns: list[Column], is_setter: bool) -> list[Column]:
    """A setter's lists hold only their own leads and calls: no setter column."""
    return [c for c in columns if c.key not in ("owner_name", "setter")] if is_setter else columns


def _no_setters(access) -> str:
    if access.role == Role.SETTER:
        return "Your login is not linked to a setter: an admin links it in Django admin → Memberships."
    return NO_SETTERS
