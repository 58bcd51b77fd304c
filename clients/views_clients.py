"""The client list, the client page and the interventions queue (DESIGN §7 "Beyond the eleven"). Thin: parse
the URL → selectors (clients.selectors_clients) → render; with HX-Request and ?partial=<name> one section.

None of the three has a period filter: they show the current state (the latest scores, the open queue) and
each client's whole history."""

from zoneinfo import ZoneInfo

from django.core.exceptions import BadRequest, PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from clients import charts
from clients import selectors_clients as sel
from clients.interventions import intervention_update
from clients.models import Contact, Intervention, Priority, Zone
from clients.selectors_health import latest_scored_day
from clients.selectors_interventions import intervention_effectiveness
from ptd.models import Role
from ptd.tables import Column, Table, export_csv
from ptd.views import render_page, require_page, shown_partials

SEARCH_MAX_LENGTH = 100
NOTE_MAX_LENGTH = 4000


def _choice(request, name: str, allowed, what: str) -> str:
    """A GET parameter that must be one of `allowed` ("" when absent); anything else is a 400 that lists them."""
    value = request.GET.get(name, "").strip()
    if value and value not in allowed:
        raise BadRequest(f"Unknown {what} {value!r}: use one of {', '.join(allowed)}.")
    return value


def _staff_param(request, name: str, choices: list[tuple[int, str]], what: str) -> int | None:
    """A GET parameter naming one of `choices` by staff id (None when absent)."""
    value = request.GET.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) not in {pk for pk, _ in choices}:
        raise BadRequest(f"Unknown {what} {value!r}: choose one from the list on the page.")
    return int(value)


# ---- /clients/ ------------------------------------------------------------------------------------

def client_list(request):
    """The clients of the latest scored day with their score, coach, package and open interventions; filters by
    zone, coach, churn-risk band and a name/email/phone search, all kept in the URL."""
    require_page(request, "clients")
    access = request.access
    coaches = sel.coach_choices_for(access)
    filters = {"zone": _choice(request, "zone", Zone.values, "zone"),
               "risk": _choice(request, "risk", list(sel.RISK_BANDS), "risk band"),
               "coach_id": _staff_param(request, "coach", coaches, "coach"),
               "search": request.GET.get("q", "").strip()}
    if filters["search"] and not access.can_see_pii:
        raise BadRequest("Searching clients by name, email or phone is not available to your role.")
    if len(filters["search"]) > SEARCH_MAX_LENGTH:
        raise BadRequest(f"The search is longer than {SEARCH_MAX_LENGTH} characters.")
    day = latest_scored_day(access)
    filtered = any(v not in ("", None) for v in filters.values())
    # Sorting by a contact column reads every listed client's contact row: quick for a coach's own clients,
    # over a second for a workspace of 100,000 (DESIGN §2.7), so only coaches get it.
    few = access.role == Role.COACH
    table = Table(
        request, name="clients", partial="clients", default_sort="-churn_risk", tiebreak="pk",
        columns=[
            Column("name", "Client", link="url", pii=True, sortable=few),
            *([] if access.can_see_pii else [Column("contact_id", "Client ID", link="url")]),
            Column("total", "Health", kind="score", help="weighted total of the five dimensions, 0–100, on the latest scored day"),
            Column("zone", "Zone", kind="zone", help="purple ≥ 85, green ≥ 70, yellow ≥ 50, red below (default bands)"),
            Column("churn_risk", "Churn risk", kind="%", help="chance of leaving in the next 30 days (churn model, else 100 − health + 12 per critical warning)"),
            Column("trend_label", "Trend", help="7-day change of the total: 5 points or more up is improving, down is declining"),
            Column("coach_name", "Coach", sortable=few),
            Column("sessions_left", "Sessions left", kind="count", sortable=False, help="latest package: sessions bought − sessions used"),
            Column("expires_on", "Package expires", kind="date", sortable=False),
            Column("last_attended", "Last attended", kind="date", sortable=False),
            Column("open_interventions", "Interventions", kind="count", sortable=False, help="open or in progress"),
        ],
        rows=sel.client_rows_for(access, day=day, **filters),
        empty_message=("No client matches these filters." if filtered else
                       "No health scores yet: clients (contacts with a package) are scored every day at 09:00."),
    )
    if (response := export_csv(request, table)):
        return response
    context = {"period": None, "table": table, "day": day, "filters": filters, "filtered": filtered,
               "zones": Zone.choices, "risk_bands": [(k, label) for k, (label, _, _) in sel.RISK_BANDS.items()],
               "coaches": coaches, "can_see_pii": access.can_see_pii, "sort": request.GET.get("clients-sort", "")}
    return render_page(request, "clients/client_list.html", context, ["clients"])


# ---- /clients/<id>/ -------------------------------------------------------------------------------

def _client_tables(request, contact: Contact) -> dict[str, Table]:
    access = request.access
    tables = {
        "sessions": Table(request, name="sessions", default_sort="-starts_at", tiebreak="pk", per_page=10,
                          columns=[Column("starts_at", "When", kind="datetime"), Column("status_label", "Status"),
                                   Column("coach_name", "Coach"), Column("package_name", "Package")],
                          rows=sel.session_rows_for(access, contact),
                          empty_message="No training sessions for this client in the sessions feed."),
        "calls": Table(request, name="calls", default_sort="-started_at", tiebreak="pk", per_page=10,
                       columns=[Column("started_at", "When", kind="datetime"), Column("direction_label", "Direction"),
                                Column("outcome_label", "Outcome"), Column("talk_minutes", "Talk time", kind="minutes"),
                                Column("staff_name", "By"),
                                Column("recording_label", "Recording", link="recording", sortable=False, pii=True)],
                       rows=sel.call_rows_for(access, contact),
                       empty_message="No calls with this client (calls are matched to clients by phone number)."),
        "interactions": Table(request, name="interactions", default_sort="-occurred_at", tiebreak="pk", per_page=10,
                              columns=[Column("occurred_at", "When", kind="datetime"), Column("channel_label", "Channel"),
                                       Column("direction_label", "Direction"),
                                       Column("summary", "Summary", sortable=False, pii=True),
                                       Column("sentiment_label", "Sentiment"),
                                       Column("response_minutes", "Reply time", kind="minutes",
                                              help="the client's time to reply"),
                                       Column("staff_name", "Staff")],
                              rows=sel.interaction_rows_for(access, contact),
                              empty_message="No messages, calls notes or visits logged with this client."),
    }
    if sel.payments_visible(access):
        tables["payments"] = Table(
            request, name="payments", default_sort="-created", tiebreak="pk", per_page=10,
            columns=[Column("created", "When", kind="datetime"), Column("amount", "Amount", kind="AED"),
                     Column("refunded", "Refunded", kind="AED"), Column("status_label", "Status"),
                     Column("note", "Note", sortable=False)],
            rows=sel.payment_rows_for(access, contact),
            empty_message="No Stripe payments matched to this client (matched by email, then phone).")
    return tables


def client_detail(request, contact_id: int):
    """One client: score, history, warnings, interventions (updated inline), one timeline of everything, and
    the sessions, payments, calls and interactions behind it."""
    require_page(request, "clients")
    access = request.access
    try:
        contact = sel.client_for(access, contact_id)
    except Contact.DoesNotExist:
        raise Http404("No such client, or not one of yours.") from None
    tables = _client_tables(request, contact)
    if (response := export_csv(request, *tables.values())):
        return response
    partials = ["summary", "history", "interventions", "timeline", *tables]
    shown = shown_partials(request, partials)
    tz = ZoneInfo(request.workspace.timezone)
    name = (contact.full_name or contact.email_normalized or f"Client {contact.pk}") if access.can_see_pii \
        else f"Client {contact.pk}"
    context = {"period": None, "contact": contact, "client_name": name, "can_see_pii": access.can_see_pii,
               "timeline_limit": sel.TIMELINE_LIMIT, **{f"{key}_table": table for key, table in tables.items()}}
    score = sel.latest_score_for(access, contact) if shown & {"summary", "history", "timeline"} else None
    history = sel.score_history_for(access, contact, score.date) if score and shown & {"history", "timeline"} else []
    if "summary" in shown:
        context.update(score=score,
                       package=sel.package_status_for(access, contact, timezone.now().astimezone(tz).date()))
    if "history" in shown:
        weights, bands = sel.health_bands_for(access)
        context.update(score=score, bands=bands, dimensions=sel.dimensions_of(score, weights) if score else [],
                       flags=sel.flags_of(score) if score else [],
                       history_chart=charts.client_score_history(history, bands) if len(history) > 1 else None)
    if "interventions" in shown:
        context["cards"] = [sel.intervention_card(iv, access) for iv in sel.client_interventions_for(access, contact)]
    if "timeline" in shown:
        context["timeline"] = sel.timeline_for(access, contact, history=history, tz=tz)
    return render_page(request, "clients/client_detail.html", context, partials)


# ---- /interventions/ ------------------------------------------------------------------------------

def interventions(request):
    """The priority queue with filters and the inline update (POST), and how well interventions work."""
    require_page(request, "interventions")
    if request.method == "POST":
        return _intervention_post(request)
    access = request.access
    assignees = sel.assignee_choices_for(access)
    status = _choice(request, "status", list(sel.QUEUE_STATUSES), "status") or "active"
    priority = _choice(request, "priority", Priority.values, "priority")
    unassigned = request.GET.get("assigned") == "none"
    assigned_to = None if unassigned else _staff_param(request, "assigned", assignees, "assignee")
    partials = ["effectiveness", "queue", "by-kind"]
    shown = shown_partials(request, partials)
    selected = _selected_card(request) if "queue" in shown else None
    params = request.GET.copy()
    for name in ("iv", "partial", "export", "rows"):
        params.pop(name, None)
    work_url = f"{request.path}?{params.urlencode()}{'&' if params else ''}iv={{}}#work"
    queue = Table(
        request, name="queue", partial="queue", default_sort="queue_rank", tiebreak="pk",
        columns=[
            Column("queue_rank", "#", kind="count", help="position in the queue: priority, then urgency × revenue at risk, then due time"),
            Column("priority_label", "Priority", sortable=False),
            Column("kind_label", "Intervention", link="work_url"),
            Column("client", "Client", link="client_url", pii=True),
            *([] if access.can_see_pii else [Column("client_ref", "Client", link="client_url")]),
            Column("assignee", "Assigned to"), Column("status_label", "Status"),
            Column("due_at", "Due", kind="datetime"),
            Column("success_probability", "Success chance", kind="%",
                   help="share of done interventions of this kind, for clients in the same zone, whose health was higher 30 days later (— below 5 measured)"),
            Column("priority_score", "Priority score", kind="count",
                   help="urgency (zone points + 1 per critical warning) × revenue at risk in AED (at least 1,000)"),
            Column("trigger", "Trigger", sortable=False), Column("created_at", "Opened", kind="datetime"),
        ],
        rows=sel.intervention_rows_for(access, status=status, priority=priority, assigned_to=assigned_to,
                                       unassigned=unassigned, work_url=work_url),
        empty_message=("Nothing matches these filters." if (status != "active" or priority or assigned_to or unassigned)
                       else "The queue is empty: no open intervention. They open when a client's zone drops or a "
                            "critical warning appears."),
    )
    by_kind_rows = (intervention_effectiveness(workspace=access.workspace, access=access)["by_kind"]
                    if shown & {"effectiveness", "by-kind"} else [])
    by_kind = Table(
        request, name="by-kind", partial="by-kind", default_sort="-total",
        columns=[Column("label", "Intervention"), Column("total", "All", kind="count"),
                 Column("open", "Open", kind="count"), Column("done", "Done", kind="count"),
                 Column("dismissed", "Dismissed", kind="count"),
                 Column("measured", "Measured", kind="count", help="done, with the health change 30 days later known"),
                 Column("success_rate", "Success rate", kind="%", help="measured ones whose health rose ÷ measured"),
                 Column("avg_health_delta_30d", "Health change, 30 days", kind="number",
                        help="mean change of the health score 30 days after opening, measured ones"),
                 Column("sessions_recovered", "Sessions recovered", kind="count"),
                 Column("revenue_protected", "Revenue protected", kind="AED")],
        rows=by_kind_rows, empty_message="No interventions yet.",
    )
    if (response := export_csv(request, queue, by_kind)):
        return response
    context = {
        "period": None, "queue": queue, "by_kind": by_kind, "selected": selected, "close_url": queue.url(iv=None),
        "can_see_pii": access.can_see_pii,
        "summary": sel.effectiveness_summary(by_kind_rows),
        "statuses": list(sel.QUEUE_STATUSES.items()), "priorities": Priority.choices, "assignees": assignees,
        "filters": {"status": status, "priority": priority, "assigned_to": assigned_to, "unassigned": unassigned},
        "sort": request.GET.get("queue-sort", ""),
    }
    return render_page(request, "clients/interventions.html", context, partials)


def _selected_card(request) -> sel.InterventionCard | None:
    """The intervention opened for work (?iv=<id>), if any."""
    value = request.GET.get("iv", "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise BadRequest(f"Unknown intervention {value!r}: iv must be an intervention id.")
    try:
        return sel.intervention_card(sel.intervention_for(request.access, int(value)), request.access)
    except Intervention.DoesNotExist:
        raise Http404("No such intervention, or not one you may see.") from None


def _intervention_post(request):
    """Move an intervention along its workflow and/or record its outcome note (clients.interventions.
    intervention_update decides what is allowed). HTMX gets the updated card back; a plain form post is sent
    back to the page it came from."""
    access = request.access
    value = request.POST.get("intervention", "").strip()
    if not value.isdigit():
        raise BadRequest("Which intervention? The form must send its id in the field 'intervention'.")
    try:
        iv = sel.intervention_for(access, int(value))
    except Intervention.DoesNotExist:
        raise Http404("No such intervention, or not one you may see.") from None
    status = request.POST.get("status", "").strip() or None
    notes = request.POST.get("outcome_notes")  # None: the form had no note field, so the note is kept
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = ""
    error = ""
    if notes is not None and len(notes) > NOTE_MAX_LENGTH:
        error = f"The outcome note is longer than {NOTE_MAX_LENGTH:,} characters."
    else:
        try:
            intervention_update(intervention=iv, actor_access=access, status=status, outcome_notes=notes)
        except PermissionError as exc:
            raise PermissionDenied(str(exc)) from exc
        except ValueError as exc:
            error = str(exc)
    if request.htmx:
        context = {"card": sel.intervention_card(iv, access), "can_see_pii": access.can_see_pii, "next": back,
                   "error": error, "draft_notes": notes if error else None}
        return render(request, "clients/interventions.html#intervention-card", context, status=400 if error else 200)
    if error:
        raise BadRequest(f"Not saved: {error}")
    return redirect(back or "interventions")
