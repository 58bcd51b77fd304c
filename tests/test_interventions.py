"""Interventions (seed 001 §4, issue 4): opened from health changes, kind rules, one open per kind, assignment,
priority, workflow, outcome measurement, reminders, effectiveness and scoping.

HealthScore rows are built by hand (never through the scoring engine), so these tests depend only on the
rules of clients.interventions."""

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from clients import interventions as iv_service
from clients.intervention_tasks import intervention_reminders, measure_intervention_outcomes, open_interventions
from clients.interventions import (choose_kind, intervention_update, interventions_measure_outcomes,
                                   interventions_open_for_changes, interventions_reminders_due, priority_for)
from clients.models import Alert, Contact, HealthScore, Intervention, Package, TrainingSession
from clients.selectors_interventions import (NO_HISTORY_TEXT, intervention_effectiveness, interventions_queue_for,
                                             success_probability_text)
from ptd.models import AuditLog, Membership
from ptd.scoping import Scope, scoped

pytestmark = pytest.mark.django_db

DUBAI = ZoneInfo("Asia/Dubai")
TOTALS = {"purple": Decimal("90"), "green": Decimal("75"), "yellow": Decimal("60"), "red": Decimal("40")}
FLAGS = {
    "no_recent_session": {"code": "no_recent_session", "severity": "critical", "text": "no attended session in 14 days",
                          "evidence": {"since_last_attended": "16 days"}},
    "payment_failed": {"code": "payment_failed", "severity": "critical", "text": "payment failed on 2026-11-02",
                       "evidence": {"failed_payments_30d": 1}},
    "package_expiring_unused": {"code": "package_expiring_unused", "severity": "warning",
                                "text": "package expires in 6 days with 9 sessions unused",
                                "evidence": {"days_left": 6, "sessions_unused": 9}},
    "negative_sentiment": {"code": "negative_sentiment", "severity": "warning",
                           "text": "negative sentiment in the last 3 interactions", "evidence": {"negative": 3}},
    "coach_changed": {"code": "coach_changed", "severity": "info", "text": "coach changed",
                      "evidence": {"coaches_last_8_weeks": 2}},
    "outstanding_balance": {"code": "outstanding_balance", "severity": "warning", "text": "outstanding balance AED 500",
                            "evidence": {"aed": "500"}},
    "attendance_drop": {"code": "attendance_drop", "severity": "warning",
                        "text": "attendance down 60% vs the prior 4 weeks", "evidence": {"last_28": 2, "prior_28": 5}},
    "dimensions_missing": {"code": "dimensions_missing", "severity": "info",
                           "text": "no data for relationship: total re-weighted", "evidence": {"missing": ["relationship"]}},
}



@pytest.fixture
def today():
    return datetime.now(DUBAI).date()


def _at(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), DUBAI)


_counter = {"n": 0}


def _next() -> int:
    _counter["n"] += 1
    return _counter["n"]


def make_contact(ws, first_name, coach=None, **extra):
    n = _next()
    return Contact.objects.create(workspace=ws, first_name=first_name, last_name="Test",
                                  email_normalized=f"{first_name.lower()}{n}@example.com",
                                  created_at=timezone.now() - timedelta(days=200), coach=coach, **extra)


def make_score(contact, day, zone, flags=(), total=None):
    return HealthScore.objects.create(workspace=contact.workspace, contact=contact, date=day,
                                      total=total if total is not None else TOTALS[zone], zone=zone,
                                      flags=[FLAGS[f] for f in flags])


def make_session(contact, starts_at, status="attended", package=None):
    return TrainingSession.objects.create(workspace=contact.workspace, contact=contact, source_id=f"s{_next()}",
                                          package=package, starts_at=starts_at, status=status, coach=contact.coach)


def make_package(contact, value, sessions, starts_on, expires_on, used=0):
    package = Package.objects.create(workspace=contact.workspace, contact=contact, source_id=f"p{_next()}",
                                     sessions_purchased=sessions, sessions_used=used, value=Decimal(value),
                                     starts_on=starts_on, expires_on=expires_on)
    for k in range(used):  # used sessions are the attended ones linked to the package, as the health engine counts
        make_session(contact, _at(starts_on, 7) + timedelta(hours=k), package=package)
    return package


def change(contact, before, after, day, before_flags=(), after_flags=(), total_after=None):
    """Two scored days: the previous one (day − 1) and `day`."""
    make_score(contact, day - timedelta(days=1), before, before_flags)
    make_score(contact, day, after, after_flags, total=total_after)


def scope_for(user, ws) -> Scope:
    return Scope.of(Membership.objects.select_related("workspace").get(user=user, workspace=ws))


@pytest.fixture
def coach(workspace, make_staff):
    return make_staff(workspace, "coach", name="Sara Haddad")


@pytest.fixture
def admin(workspace, make_user):
    return scope_for(make_user(workspace, "admin"), workspace)


# --- opening -------------------------------------------------------------------------------------

def test_zone_downgrade_opens_exactly_one_intervention_and_rerunning_opens_none(workspace, coach, admin, today):
    aisha = make_contact(workspace, "Aisha", coach=coach)
    make_package(aisha, "3600", 12, today - timedelta(days=30), today + timedelta(days=30), used=4)
    change(aisha, "green", "yellow", today, after_flags=["attendance_drop"])
    steady = make_contact(workspace, "Steady", coach=coach)
    change(steady, "green", "green", today, before_flags=["attendance_drop"], after_flags=["attendance_drop"])
    better = make_contact(workspace, "Better", coach=coach)
    change(better, "yellow", "green", today)

    counts = interventions_open_for_changes(workspace=workspace, day=today)

    assert (counts["changes"], counts["opened"]) == (1, 1)
    opened = Intervention.objects.get()
    assert (opened.contact, opened.kind, opened.status, opened.assigned_to) == (aisha, "proactive_checkin", "open", coach)
    assert opened.trigger == "zone green → yellow"
    assert "attendance down 60% vs the prior 4 weeks" in opened.root_cause
    assert "Aisha" in opened.message_draft and "Sara" in opened.message_draft
    assert opened.recommended_action
    assert opened.due_at is not None and opened.success_probability is None

    again = interventions_open_for_changes(workspace=workspace, day=today)
    assert (again["opened"], again["already_open"]) == (0, 1)
    # Closed in between, the same change (the task re-reads the same day every 5 minutes) does not reopen it.
    intervention_update(intervention=opened, actor_access=admin, status="dismissed", outcome_notes="client on holiday")
    third = interventions_open_for_changes(workspace=workspace, day=today)
    assert (third["opened"], third["already_opened_today"]) == (0, 1)
    assert Intervention.objects.count() == 1


def test_new_critical_flag_opens_one_without_a_zone_change(workspace, coach, today):
    omar = make_contact(workspace, "Omar", coach=coach)
    make_package(omar, "3600", 12, today - timedelta(days=20), today + timedelta(days=40))
    change(omar, "yellow", "yellow", today, after_flags=["payment_failed"])
    known = make_contact(workspace, "Known", coach=coach)  # the same critical flag as the day before: not new
    make_package(known, "3600", 12, today - timedelta(days=20), today + timedelta(days=40))
    change(known, "yellow", "yellow", today, before_flags=["payment_failed"], after_flags=["payment_failed"])

    counts = interventions_open_for_changes(workspace=workspace, day=today)

    assert counts["opened"] == 1
    opened = Intervention.objects.get()
    assert (opened.contact, opened.kind) == (omar, "proactive_checkin")
    assert opened.trigger == "new critical: payment failed on 2026-11-02"
    assert "didn't go through" in opened.message_draft and "failed payment" in opened.recommended_action


def test_previous_scored_day_is_the_latest_earlier_row_not_yesterday(workspace, coach, today):
    gap = make_contact(workspace, "Gap", coach=coach)
    make_package(gap, "3600", 12, today - timedelta(days=20), today + timedelta(days=40))
    make_score(gap, today - timedelta(days=9), "purple")
    make_score(gap, today - timedelta(days=5), "green")  # the previous scored day
    make_score(gap, today, "green")
    assert interventions_open_for_changes(workspace=workspace, day=today)["opened"] == 0
    make_score(gap, today + timedelta(days=3), "yellow")
    assert interventions_open_for_changes(workspace=workspace, day=today + timedelta(days=3))["opened"] == 1


@pytest.mark.parametrize("zone, previous, flags, in_date, expected", [
    ("red", "yellow", {"no_recent_session"}, True, ("emergency", "", 1)),
    ("red", "yellow", {"payment_failed"}, True, ("emergency", "", 1)),
    ("red", "green", set(), True, ("emergency", "", 1)),  # fell two bands
    ("red", "yellow", {"attendance_drop"}, True, ("proactive_checkin", "", 9)),  # one band, no critical flag
    ("yellow", "green", {"no_recent_session", "payment_failed"}, True, ("re_engagement", "", 2)),
    ("green", "green", {"payment_failed", "package_expiring_unused"}, True, ("proactive_checkin", "billing", 3)),
    ("yellow", "green", {"package_expiring_unused", "negative_sentiment"}, True, ("upgrade_opportunity", "", 4)),
    ("yellow", "green", {"negative_sentiment"}, True, ("coach_reassignment", "", 5)),
    ("yellow", "green", {"negative_sentiment", "coach_changed"}, True, ("proactive_checkin", "new_coach", 6)),
    ("yellow", "green", {"coach_changed"}, True, ("proactive_checkin", "new_coach", 6)),
    ("yellow", "green", {"outstanding_balance", "attendance_drop"}, True, ("proactive_checkin", "billing", 7)),
    ("yellow", "green", {"outstanding_balance"}, False, ("proactive_checkin", "billing", 7)),
    ("yellow", "green", {"attendance_drop"}, False, ("special_promotion", "", 8)),
    ("green", "purple", {"attendance_drop", "dimensions_missing"}, True, ("proactive_checkin", "", 9)),
    ("red", None, {"no_recent_session"}, True, ("emergency", "", 1)),  # first scored day
])
def test_kind_rules_table(zone, previous, flags, in_date, expected):
    choice = choose_kind(zone=zone, previous_zone=previous, codes=flags, package_in_date=in_date)
    assert (choice.kind, choice.variant, choice.rule) == expected


def test_kinds_and_drafts_from_stored_scores(workspace, coach, today):
    """The rules applied end to end, with the personalised drafts."""
    layla = make_contact(workspace, "Layla", coach=coach)
    make_package(layla, "6600", 24, today - timedelta(days=60), today + timedelta(days=30), used=15)
    change(layla, "green", "yellow", today, after_flags=["no_recent_session"])
    khalid = make_contact(workspace, "Khalid", coach=coach)
    make_package(khalid, "3600", 12, today - timedelta(days=80), today + timedelta(days=6), used=3)
    change(khalid, "green", "yellow", today, after_flags=["package_expiring_unused"])
    noor = make_contact(workspace, "Noor", coach=coach)
    make_package(noor, "3600", 12, today - timedelta(days=100), today - timedelta(days=10), used=12)
    change(noor, "green", "yellow", today)
    rami = make_contact(workspace, "Rami", coach=coach)
    make_package(rami, "3600", 12, today - timedelta(days=10), today + timedelta(days=50))
    change(rami, "yellow", "red", today, after_flags=["no_recent_session"])

    interventions_open_for_changes(workspace=workspace, day=today)

    by_contact = {i.contact.first_name: i for i in Intervention.objects.select_related("contact")}
    assert {k: i.kind for k, i in by_contact.items()} == {
        "Layla": "re_engagement", "Khalid": "upgrade_opportunity", "Noor": "special_promotion", "Rami": "emergency"}
    expires = today + timedelta(days=30)
    assert "16 days" in by_contact["Layla"].message_draft
    assert "9 sessions" in by_contact["Layla"].message_draft
    assert f"valid until {expires.day} {expires:%b %Y}" in by_contact["Layla"].message_draft
    assert "9 sessions left" in by_contact["Khalid"].message_draft  # from the flag's evidence
    ended = today - timedelta(days=10)
    assert f"ended on {ended.day} {ended:%b %Y}" in by_contact["Noor"].message_draft
    assert by_contact["Rami"].priority in ("critical", "high")


def test_never_two_open_interventions_of_the_same_kind(workspace, coach, today):
    huda = make_contact(workspace, "Huda", coach=coach)
    make_package(huda, "3600", 12, today - timedelta(days=20), today + timedelta(days=40))
    Intervention.objects.create(workspace=workspace, contact=huda, kind="re_engagement", status="in_progress",
                                assigned_to=coach)
    change(huda, "green", "yellow", today, after_flags=["no_recent_session"])

    counts = interventions_open_for_changes(workspace=workspace, day=today)

    assert (counts["opened"], counts["already_open"]) == (0, 1)
    assert Intervention.objects.filter(contact=huda).count() == 1
    # A different kind for the same client may open (red now: an emergency).
    make_score(huda, today + timedelta(days=1), "red", ["no_recent_session", "payment_failed"])
    assert interventions_open_for_changes(workspace=workspace, day=today + timedelta(days=1))["opened"] == 1
    assert sorted(Intervention.objects.filter(contact=huda).values_list("kind", flat=True)) == [
        "emergency", "re_engagement"]
    # Two clients, one run: each gets its own.
    ali = make_contact(workspace, "Ali", coach=coach)
    make_package(ali, "3600", 12, today - timedelta(days=20), today + timedelta(days=40))
    change(ali, "green", "yellow", today + timedelta(days=5), after_flags=["no_recent_session"])
    make_score(huda, today + timedelta(days=4), "green")
    make_score(huda, today + timedelta(days=5), "yellow", ["no_recent_session"])
    counts = interventions_open_for_changes(workspace=workspace, day=today + timedelta(days=5))
    assert (counts["changes"], counts["opened"], counts["already_open"]) == (2, 1, 1)
    open_pairs = list(Intervention.objects.filter(status__in=["open", "in_progress"]).values_list("contact", "kind"))
    assert len(open_pairs) == len(set(open_pairs))


def test_assignment_to_the_coach_else_an_admin_else_nobody(workspace, make_staff, coach, today):
    retired = make_staff(workspace, "coach", name="Old Coach", is_active=False)
    with_coach = make_contact(workspace, "Dana", coach=coach)
    inactive_coach = make_contact(workspace, "Faris", coach=retired)
    no_coach = make_contact(workspace, "Ghada")
    for c in (with_coach, inactive_coach, no_coach):
        make_package(c, "3600", 12, today - timedelta(days=20), today + timedelta(days=40))
        change(c, "green", "yellow", today)
    interventions_open_for_changes(workspace=workspace, day=today)
    assert {i.contact_id: i.assigned_to for i in Intervention.objects.all()} == {
        with_coach.pk: coach, inactive_coach.pk: None, no_coach.pk: None}

    admin_staff = make_staff(workspace, "admin", name="Maya Ops")
    Intervention.objects.all().delete()
    interventions_open_for_changes(workspace=workspace, day=today)
    assert {i.contact_id: i.assigned_to for i in Intervention.objects.all()} == {
        with_coach.pk: coach, inactive_coach.pk: admin_staff, no_coach.pk: admin_staff}

    # A coach reassignment goes to an admin, not to the coach it is about.
    hana = make_contact(workspace, "Hana", coach=coach)
    make_package(hana, "3600", 12, today - timedelta(days=20), today + timedelta(days=40))
    change(hana, "green", "yellow", today + timedelta(days=2), after_flags=["negative_sentiment"])
    interventions_open_for_changes(workspace=workspace, day=today + timedelta(days=2))
    reassignment = Intervention.objects.get(contact=hana)
    assert (reassignment.kind, reassignment.assigned_to) == ("coach_reassignment", admin_staff)
    assert "Sara Haddad" in reassignment.message_draft and f"{workspace.name} team" in reassignment.message_draft


def test_priority_is_urgency_times_revenue_at_risk_and_orders_the_queue(workspace, coach, admin, today):
    # Default renewal rate 0.5 (fewer than 10 packages ended).
    big = make_contact(workspace, "Big", coach=coach)  # red + critical: urgency 4; 6,600 + 3,300 at risk
    make_package(big, "6600", 24, today - timedelta(days=10), today + timedelta(days=80))
    change(big, "yellow", "red", today, after_flags=["no_recent_session"])
    mid = make_contact(workspace, "Mid", coach=coach)  # yellow: urgency 2; 1,800 + 1,800 at risk → 7,200
    make_package(mid, "3600", 12, today - timedelta(days=30), today + timedelta(days=30), used=6)
    change(mid, "green", "yellow", today, after_flags=["attendance_drop"])
    small = make_contact(workspace, "Small", coach=coach)  # green: urgency 1; 1,200 + 600 at risk → 1,800
    make_package(small, "1200", 12, today - timedelta(days=5), today + timedelta(days=60))
    change(small, "purple", "green", today)

    before = timezone.now()
    interventions_open_for_changes(workspace=workspace, day=today)

    rows = {i.contact_id: i for i in Intervention.objects.all()}
    assert (rows[big.pk].priority, rows[mid.pk].priority, rows[small.pk].priority) == ("critical", "medium", "low")
    assert "Revenue at risk: AED 9,900" in rows[big.pk].root_cause
    assert "Revenue at risk: AED 3,600" in rows[mid.pk].root_cause
    assert timedelta(hours=23) < rows[big.pk].due_at - before <= timedelta(hours=24, minutes=1)
    assert timedelta(days=2, hours=23) < rows[mid.pk].due_at - before <= timedelta(days=3, minutes=1)
    assert timedelta(days=6, hours=23) < rows[small.pk].due_at - before <= timedelta(days=7, minutes=1)
    queue = list(interventions_queue_for(access=admin).values_list("contact_id", flat=True))
    assert queue == [big.pk, mid.pk, small.pk]


def test_priority_levels():
    assert priority_for(urgency=4, revenue_at_risk=Decimal("9900"), kind="emergency") == ("critical", Decimal("39600.00"))
    assert priority_for(urgency=3, revenue_at_risk=Decimal("3600"), kind="re_engagement") == ("high", Decimal("10800.00"))
    assert priority_for(urgency=2, revenue_at_risk=Decimal("0"), kind="proactive_checkin") == ("low", Decimal("2000.00"))
    # An emergency is never below high, whatever the revenue.
    assert priority_for(urgency=4, revenue_at_risk=Decimal("0"), kind="emergency")[0] == "high"
    # The same urgency with more revenue at risk ranks higher.
    assert priority_for(urgency=2, revenue_at_risk=Decimal("6000"), kind="proactive_checkin")[0] == "high"


def test_renewal_rate_from_history(workspace, today):
    assert iv_service.renewal_rate(workspace=workspace, day=today) == Decimal("0.5")
    for k in range(10):
        c = make_contact(workspace, f"R{k}")
        make_package(c, "1000", 10, today - timedelta(days=120), today - timedelta(days=40))
        if k < 3:  # 3 of 10 renewed within 30 days of the end
            make_package(c, "1000", 10, today - timedelta(days=30), today + timedelta(days=30))
    assert iv_service.renewal_rate(workspace=workspace, day=today) == Decimal("0.3")


def test_success_probability_from_similar_outcomes(workspace, coach, today):
    past = today - timedelta(days=60)
    for k, delta in enumerate(["5", "3", "-2", "8", "-1", "4"]):
        c = make_contact(workspace, f"Past{k}", coach=coach)
        make_score(c, past, "yellow")
        iv = Intervention.objects.create(workspace=workspace, contact=c, kind="re_engagement", status="done",
                                         outcome_notes="ok", health_delta_30d=Decimal(delta), assigned_to=coach)
        Intervention.objects.filter(pk=iv.pk).update(created_at=_at(past))
    # Outcomes of another zone or status do not count.
    other = make_contact(workspace, "OtherZone", coach=coach)
    make_score(other, past, "red")
    iv = Intervention.objects.create(workspace=workspace, contact=other, kind="re_engagement", status="done",
                                     outcome_notes="ok", health_delta_30d=Decimal("-9"))
    Intervention.objects.filter(pk=iv.pk).update(created_at=_at(past))

    new = make_contact(workspace, "New", coach=coach)
    make_package(new, "3600", 12, today - timedelta(days=20), today + timedelta(days=40))
    change(new, "green", "yellow", today, after_flags=["no_recent_session"])
    red = make_contact(workspace, "NewRed", coach=coach)
    make_package(red, "3600", 12, today - timedelta(days=20), today + timedelta(days=40))
    change(red, "green", "yellow", today, after_flags=["payment_failed"])
    interventions_open_for_changes(workspace=workspace, day=today)

    assert Intervention.objects.get(contact=new).success_probability == Decimal("66.67")  # 4 of 6 positive
    billing = Intervention.objects.get(contact=red)
    assert billing.success_probability is None
    assert success_probability_text(billing.success_probability) == NO_HISTORY_TEXT


# --- workflow ------------------------------------------------------------------------------------

def test_workflow_transitions(workspace, coach, make_staff, make_user, admin, monkeypatch,
                              django_capture_on_commit_callbacks):
    published = []
    monkeypatch.setattr("ptd.live.publish_now", lambda **kw: published.append(kw))
    client = make_contact(workspace, "Zaid", coach=coach)
    iv = Intervention.objects.create(workspace=workspace, contact=client, kind="re_engagement", assigned_to=coach)
    other_coach = make_staff(workspace, "coach", name="Other Coach")
    own = scope_for(make_user(workspace, "coach", staff=coach), workspace)
    stranger = scope_for(make_user(workspace, "coach", staff=other_coach), workspace)
    viewer = scope_for(make_user(workspace, "viewer"), workspace)

    with pytest.raises(PermissionError):
        intervention_update(intervention=iv, actor_access=stranger, status="in_progress")
    with pytest.raises(PermissionError):
        intervention_update(intervention=iv, actor_access=viewer, status="in_progress")
    with pytest.raises(ValueError, match="open cannot become done"):
        intervention_update(intervention=iv, actor_access=own, status="done", outcome_notes="called")
    with pytest.raises(ValueError, match="Unknown status"):
        intervention_update(intervention=iv, actor_access=own, status="finished")

    with django_capture_on_commit_callbacks(execute=True):
        started = intervention_update(intervention=iv, actor_access=own, status="in_progress")
    assert (started.status, started.completed_at) == ("in_progress", None)
    assert published == [{"workspace_id": workspace.pk, "topics": ["interventions"], "staff_ids": [coach.pk]}]
    with pytest.raises(ValueError, match="needs an outcome note"):
        intervention_update(intervention=iv, actor_access=own, status="done", outcome_notes="  ")
    assert Intervention.objects.get(pk=iv.pk).status == "in_progress"

    done = intervention_update(intervention=iv, actor_access=own, status="done",
                               outcome_notes="Booked two sessions for next week")
    assert done.status == "done" and done.completed_at is not None
    assert done.outcome_notes == "Booked two sessions for next week"
    assert AuditLog.objects.filter(action="intervention.status_changed", object_id=str(iv.pk)).count() == 2
    for illegal in ("in_progress", "open", "dismissed"):
        with pytest.raises(ValueError, match="closed"):
            intervention_update(intervention=iv, actor_access=admin, status=illegal)
    # The note of a closed intervention may be corrected, not emptied.
    intervention_update(intervention=iv, actor_access=own, outcome_notes="Booked three sessions")
    with pytest.raises(ValueError):
        intervention_update(intervention=iv, actor_access=own, outcome_notes="")

    dismissable = Intervention.objects.create(workspace=workspace, contact=client, kind="emergency", assigned_to=coach)
    with pytest.raises(ValueError, match="needs an outcome note"):
        intervention_update(intervention=dismissable, actor_access=admin, status="dismissed")
    closed = intervention_update(intervention=dismissable, actor_access=admin, status="dismissed",
                                 outcome_notes="false alarm: travelling")
    assert closed.status == "dismissed" and closed.completed_at is not None


def test_a_coach_cannot_update_another_workspaces_intervention(workspace, other_workspace, make_staff, make_user):
    coach = make_staff(other_workspace, "coach", name="Far Coach")
    far = make_contact(other_workspace, "Far", coach=coach)
    iv = Intervention.objects.create(workspace=other_workspace, contact=far, kind="re_engagement", assigned_to=coach)
    admin_here = scope_for(make_user(workspace, "admin"), workspace)
    with pytest.raises(PermissionError):
        intervention_update(intervention=iv, actor_access=admin_here, status="in_progress")


# --- outcomes ------------------------------------------------------------------------------------

def test_outcomes_measured_at_7_and_30_days(workspace, coach, today):
    d0 = today - timedelta(days=30)
    opened_at = _at(d0, 10)
    # Buyer: re-engaged and bought a new package 10 days after the intervention.
    buyer = make_contact(workspace, "Buyer", coach=coach)
    make_package(buyer, "3600", 12, d0 - timedelta(days=80), d0 + timedelta(days=5))
    for k in (25, 12):  # 2 attended in the 30 days before
        make_session(buyer, opened_at - timedelta(days=k))
    make_session(buyer, opened_at - timedelta(days=40))  # outside the window
    for k in (2, 5, 9, 14, 20, 27):  # 6 attended in the 30 days after
        make_session(buyer, opened_at + timedelta(days=k))
    make_session(buyer, opened_at + timedelta(days=3), status="no_show")
    renewal = make_package(buyer, "6600", 24, d0 + timedelta(days=10), d0 + timedelta(days=100))
    make_score(buyer, d0, "red", total=Decimal("42.50"))
    make_score(buyer, d0 + timedelta(days=7), "yellow", total=Decimal("55.00"))
    make_score(buyer, d0 + timedelta(days=30), "green", total=Decimal("71.25"))
    # Stayer: buys nothing but still attends: the value left on the package in date on day 30 is protected.
    stayer = make_contact(workspace, "Stayer", coach=coach)
    package = make_package(stayer, "3600", 12, d0 - timedelta(days=10), d0 + timedelta(days=60), used=1)
    for k in (4, 18, 25):
        make_session(stayer, opened_at + timedelta(days=k), package=package)
    for k in (3, 6, 9, 12, 15):
        make_session(stayer, opened_at - timedelta(days=k), package=package)
    make_score(stayer, d0 - timedelta(days=2), "yellow", total=Decimal("60"))  # latest on or before d0
    make_score(stayer, d0 + timedelta(days=6), "yellow", total=Decimal("58"))  # within (d0+3, d0+7]
    make_score(stayer, d0 + timedelta(days=29), "yellow", total=Decimal("65"))
    # Gone: no sessions after, nothing bought: nothing protected, no score after.
    gone = make_contact(workspace, "Gone", coach=coach)
    make_score(gone, d0, "red")
    # Recent: opened 7 days ago, only its 7-day outcome is due.
    recent = make_contact(workspace, "Recent", coach=coach)
    d7 = today - timedelta(days=7)
    make_score(recent, d7, "yellow", total=Decimal("61"))
    make_score(recent, today, "yellow", total=Decimal("59.5"))

    ivs = {}
    for who, when in ((buyer, opened_at), (stayer, opened_at), (gone, opened_at), (recent, _at(d7, 9))):
        ivs[who.first_name] = Intervention.objects.create(workspace=workspace, contact=who, kind="re_engagement",
                                                          assigned_to=coach)
        Intervention.objects.filter(pk=ivs[who.first_name].pk).update(created_at=when)

    first = interventions_measure_outcomes(workspace=workspace, day=d0 + timedelta(days=7))
    assert first == {"day": (d0 + timedelta(days=7)).isoformat(), "measured_7d": 2, "measured_30d": 0}
    b = Intervention.objects.get(pk=ivs["Buyer"].pk)
    assert (b.health_delta_7d, b.health_delta_30d, b.sessions_recovered, b.revenue_protected) == (
        Decimal("12.50"), None, None, None)

    second = interventions_measure_outcomes(workspace=workspace, day=today)
    assert (second["measured_7d"], second["measured_30d"]) == (1, 3)
    b = Intervention.objects.get(pk=ivs["Buyer"].pk)
    assert (b.health_delta_7d, b.health_delta_30d, b.sessions_recovered, b.revenue_protected) == (
        Decimal("12.50"), Decimal("28.75"), 4, renewal.value)
    s = Intervention.objects.get(pk=ivs["Stayer"].pk)
    # 1 + 3 + 5 sessions linked to the 12-session package by day 30: 3 left of 12 → AED 900.
    assert (s.health_delta_7d, s.health_delta_30d, s.sessions_recovered, s.revenue_protected) == (
        Decimal("-2.00"), Decimal("5.00"), 0, Decimal("900.00"))
    g = Intervention.objects.get(pk=ivs["Gone"].pk)
    assert (g.health_delta_7d, g.health_delta_30d, g.sessions_recovered, g.revenue_protected) == (
        None, None, 0, Decimal("0.00"))
    r = Intervention.objects.get(pk=ivs["Recent"].pk)
    assert (r.health_delta_7d, r.health_delta_30d, r.sessions_recovered) == (Decimal("-1.50"), None, None)

    # Measured once: running the day again changes nothing.
    assert interventions_measure_outcomes(workspace=workspace, day=today)["measured_30d"] == 0


def test_effectiveness_by_kind_coach_and_segment(workspace, coach, make_staff, make_user, today):
    other = make_staff(workspace, "coach", name="Other Coach")
    past = today - timedelta(days=45)
    specs = [  # (kind, coach, zone at creation, status, 7d, 30d, revenue)
        ("re_engagement", coach, "red", "done", "4", "10", "3600"),
        ("re_engagement", coach, "red", "done", "-1", "-3", "0"),
        ("re_engagement", other, "yellow", "done", "2", "6", "900"),
        ("upgrade_opportunity", other, "yellow", "dismissed", None, "-5", None),
        ("emergency", coach, "red", "open", None, None, None),
    ]
    for k, (kind, staff, zone, status, d7, d30, revenue) in enumerate(specs):
        c = make_contact(workspace, f"E{k}", coach=staff)
        make_score(c, past, zone)
        iv = Intervention.objects.create(
            workspace=workspace, contact=c, kind=kind, assigned_to=staff, status=status, outcome_notes="x",
            health_delta_7d=Decimal(d7) if d7 else None, health_delta_30d=Decimal(d30) if d30 else None,
            revenue_protected=Decimal(revenue) if revenue else None, sessions_recovered=1 if d30 else None)
        Intervention.objects.filter(pk=iv.pk).update(created_at=_at(past))

    result = intervention_effectiveness(workspace=workspace)

    kinds = {g["key"]: g for g in result["by_kind"]}
    re = kinds["re_engagement"]
    assert (re["total"], re["done"], re["measured"], re["successful"]) == (3, 3, 3, 2)
    assert re["success_rate"] == Decimal("66.7")
    assert re["avg_health_delta_30d"] == Decimal("4.33") and re["avg_health_delta_7d"] == Decimal("1.67")
    assert re["revenue_protected"] == Decimal("4500.00") and re["sessions_recovered"] == 3
    assert kinds["upgrade_opportunity"]["success_rate"] is None  # dismissed ones are not outcomes
    assert kinds["emergency"]["open"] == 1
    coaches = {g["label"]: g for g in result["by_coach"]}
    assert (coaches["Sara Haddad"]["success_rate"], coaches["Other Coach"]["success_rate"]) == (
        Decimal("50.0"), Decimal("100.0"))
    segments = {g["key"]: g for g in result["by_segment"]}
    assert (segments["red"]["measured"], segments["red"]["successful"], segments["yellow"]["measured"]) == (2, 1, 1)
    assert [g["key"] for g in result["by_segment"]] == ["yellow", "red"]
    # Scoped: a coach sees the effectiveness of their own interventions only.
    mine = intervention_effectiveness(workspace=workspace,
                                      access=scope_for(make_user(workspace, "coach", staff=other), workspace))
    assert [g["label"] for g in mine["by_coach"]] == ["Other Coach"]


# --- reminders -----------------------------------------------------------------------------------

def test_overdue_reminders_are_not_duplicated(workspace, coach, today):
    now = _at(today, 12)  # "now" of the run; the alerts themselves are stamped with the real time (same day)
    c = make_contact(workspace, "Late", coach=coach)
    overdue = Intervention.objects.create(workspace=workspace, contact=c, kind="re_engagement", assigned_to=coach,
                                          priority="critical", due_at=now - timedelta(hours=2))
    Intervention.objects.create(workspace=workspace, contact=c, kind="emergency", assigned_to=coach,
                                status="in_progress", due_at=now + timedelta(hours=2))  # not yet due
    Intervention.objects.create(workspace=workspace, contact=c, kind="upgrade_opportunity", assigned_to=coach,
                                status="done", outcome_notes="renewed", due_at=now - timedelta(days=2))  # closed

    assert interventions_reminders_due(workspace=workspace, now=now) == {"overdue": 1, "alerts": 1}
    alert = Alert.objects.get()
    assert (alert.kind, alert.staff, alert.contact, alert.severity) == ("intervention_overdue", coach, c, "critical")
    assert f"#{overdue.pk}" in alert.title and "Late" not in alert.title
    assert interventions_reminders_due(workspace=workspace, now=now + timedelta(hours=1)) == {"overdue": 1, "alerts": 0}
    assert Alert.objects.count() == 1
    # The next day it reminds again; an alert of the previous day does not count.
    Alert.objects.update(created_at=now - timedelta(days=1, hours=1))
    assert interventions_reminders_due(workspace=workspace, now=now)["alerts"] == 1


# --- scoping and tasks ---------------------------------------------------------------------------

def test_a_coach_sees_only_own_interventions(workspace, coach, make_staff, make_user, admin):
    other = make_staff(workspace, "coach", name="Other Coach")
    mine = Intervention.objects.create(workspace=workspace, contact=make_contact(workspace, "Mine", coach=coach),
                                       kind="re_engagement", assigned_to=coach)
    theirs = Intervention.objects.create(workspace=workspace, contact=make_contact(workspace, "Theirs", coach=other),
                                         kind="re_engagement", assigned_to=other)
    unassigned = Intervention.objects.create(workspace=workspace, contact=make_contact(workspace, "Nobody"),
                                             kind="proactive_checkin")
    coach_scope = scope_for(make_user(workspace, "coach", staff=coach), workspace)
    assert list(scoped(Intervention, coach_scope)) == [mine]
    assert list(interventions_queue_for(access=coach_scope)) == [mine]
    assert set(scoped(Intervention, admin)) == {mine, theirs, unassigned}
    setter_scope = scope_for(make_user(workspace, "setter", staff=make_staff(workspace, "setter")), workspace)
    assert not scoped(Intervention, setter_scope).exists()


def test_tasks_run_every_workspace(workspace, other_workspace, coach, today):
    c = make_contact(workspace, "Task", coach=coach)
    make_package(c, "3600", 12, today - timedelta(days=20), today + timedelta(days=40))
    change(c, "green", "yellow", today - timedelta(days=1))  # the latest scored day, not necessarily today

    summary = open_interventions()

    assert f"ptd {today - timedelta(days=1)}: 1 opened of 1 changes" in summary
    assert Intervention.objects.filter(contact=c).count() == 1
    assert "0 opened" in open_interventions()
    Intervention.objects.update(due_at=timezone.now() - timedelta(minutes=1))
    assert "ptd: 1 reminders for 1 overdue" in intervention_reminders()
    assert "ptd: 0 at 7 days, 0 at 30 days" in measure_intervention_outcomes()


def test_opening_and_measuring_are_set_based(workspace, coach, today, django_assert_max_num_queries):
    """The number of queries does not grow with the number of clients changed."""

    def clients(n, day):
        for k in range(n):
            c = make_contact(workspace, f"Q{day}{k}", coach=coach)
            make_package(c, "3600", 12, today - timedelta(days=20), today + timedelta(days=40))
            change(c, "green", "yellow", day, after_flags=["no_recent_session"] if k % 2 else [])

    clients(2, today)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        assert interventions_open_for_changes(workspace=workspace, day=today)["opened"] == 2
    clients(12, today + timedelta(days=1))
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert interventions_open_for_changes(workspace=workspace, day=today + timedelta(days=1))["opened"] == 12
    with django_assert_max_num_queries(4):  # two UPDATEs, inside a savepoint
        interventions_measure_outcomes(workspace=workspace, day=today + timedelta(days=40))


def test_outstanding_balance_opens_a_billing_checkin(workspace, coach, today):
    zed = make_contact(workspace, "Zed", coach=coach)
    make_package(zed, "3600", 12, today - timedelta(days=20), today + timedelta(days=40))
    change(zed, "green", "yellow", today, after_flags=["outstanding_balance"])
    interventions_open_for_changes(workspace=workspace, day=today)
    opened = Intervention.objects.get(contact=zed)
    assert opened.kind == "proactive_checkin"
    assert "a balance of AED 500 due" in opened.message_draft and "balance due" in opened.recommended_action
