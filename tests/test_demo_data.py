"""The demo dataset (ptd.demo): deterministic (same seed → same rows, wherever it is loaded), consistent
(payments link to a contact with that email, deal stages in funnel order, sessions within package dates),
flagged demo and removable exactly; and the management command's errors."""

from collections import defaultdict
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from clients.models import (Call, Contact, Deal, DealStageHistory, Package, PipelineStage, Staff, TrainingSession)
from finance.models import Payment
from marketing.models import AdInsight
from ptd.demo import loader
from ptd.models import User

PARAMS = {"clients": 40, "days": 60, "seed": 7, "end": date(2026, 11, 25)}
DUBAI = ZoneInfo("Asia/Dubai")

pytestmark = pytest.mark.django_db



def fingerprint(workspace) -> dict[str, list[tuple]]:
    """The dataset without its workspace, primary keys or the source ids derived from them (HubSpot, Stripe and
    Meta ids are numbered after the rows already in the tables, so they differ between workspaces)."""
    ws = {"workspace": workspace}
    return {
        "staff": sorted(Staff.objects.filter(**ws).values_list("name", "kind", "email", "monthly_target")),
        "contacts": sorted(Contact.objects.filter(**ws).values_list(
            "email_normalized", "phone_e164", "first_name", "last_name", "lifecycle_stage", "created_at", "source",
            "utm_source", "utm_medium", "fbclid", "owner__name", "coach__name")),
        "deals": sorted(Deal.objects.filter(**ws).values_list(
            "contact__email_normalized", "name", "stage_id", "amount", "cash_collected", "created_at", "close_date",
            "closed_lost_reason", "owner__name"), key=repr),
        "stages": sorted(DealStageHistory.objects.filter(**ws).values_list(
            "deal__contact__email_normalized", "deal__name", "stage_id", "entered_at")),
        "calls": sorted(Call.objects.filter(**ws).values_list(
            "contact__email_normalized", "staff__name", "started_at", "outcome", "talk_seconds")),
        "payments": sorted(Payment.objects.filter(**ws).values_list(
            "contact__email_normalized", "customer__email", "amount_minor", "status", "created", "fee_minor",
            "amount_refunded_minor", "description")),
        "packages": sorted(Package.objects.filter(**ws).values_list(
            "contact__email_normalized", "name", "sessions_purchased", "sessions_used", "value", "starts_on",
            "expires_on")),
        "sessions": sorted(TrainingSession.objects.filter(**ws).values_list(
            "contact__email_normalized", "coach__name", "starts_at", "status")),
        "insights": sorted(AdInsight.objects.filter(**ws).values_list(
            "campaign__name", "ad__name", "date", "spend", "impressions", "leads", "purchases", "purchase_value")),
    }


@pytest.fixture
def loaded(workspace):
    counts = loader.load(workspace_id=workspace.pk, **PARAMS)
    return counts


# --- determinism ----------------------------------------------------------------------------------------------------


def test_same_seed_gives_the_same_rows_in_another_workspace(workspace, other_workspace, loaded):
    counts_b = loader.load(workspace_id=other_workspace.pk, **PARAMS)
    a, b = fingerprint(workspace), fingerprint(other_workspace)

    assert counts_b == loaded
    assert len(a["contacts"]) == loaded["clients.Contact"] == 400  # ten leads per client
    assert len(a["payments"]) == loaded["finance.Payment"] > 0
    assert len(a["sessions"]) == loaded["clients.TrainingSession"] > 0
    for table in a:
        assert a[table] == b[table], table


def test_purge_then_load_again_gives_the_same_rows(workspace, loaded):
    before = fingerprint(workspace)
    loader.purge(workspace_id=workspace.pk)
    assert not Contact.objects.filter(workspace=workspace).exists()
    loader.load(workspace_id=workspace.pk, **PARAMS)
    assert fingerprint(workspace) == before


def test_another_seed_gives_other_rows(workspace, other_workspace, loaded):
    loader.load(workspace_id=other_workspace.pk, **{**PARAMS, "seed": 8})
    a, b = fingerprint(workspace), fingerprint(other_workspace)
    assert {c[0] for c in a["contacts"]} != {c[0] for c in b["contacts"]}
    assert a["payments"] != b["payments"]
    assert a["sessions"] != b["sessions"]
    # The same size, though: the parameters fix the number of clients and leads.
    assert len(a["contacts"]) == len(b["contacts"]) == 400


# --- consistency ----------------------------------------------------------------------------------------------------


def test_exactly_the_requested_number_of_clients_win(workspace, loaded):
    won = Deal.objects.filter(workspace=workspace, stage_id="closedwon")
    assert won.values("contact").distinct().count() == 40
    assert Contact.objects.filter(workspace=workspace, deals__stage_id="closedwon").distinct().count() == 40
    # Every client who won has a package and the won deal has an amount.
    assert not won.filter(amount__isnull=True).exists()
    assert Package.objects.filter(workspace=workspace).values("contact").distinct().count() == 40


def test_every_payment_links_to_a_contact_with_the_customers_email(workspace, loaded):
    payments = list(Payment.objects.filter(workspace=workspace).select_related("contact", "customer"))
    assert len(payments) == loaded["finance.Payment"]
    for p in payments:
        assert p.contact is not None and p.customer is not None, p.stripe_id
        assert p.customer.email == p.contact.email_normalized, p.stripe_id
        assert p.customer.contact_id == p.contact_id, p.stripe_id
        assert p.contact.workspace_id == workspace.pk and p.customer.workspace_id == workspace.pk
        assert p.currency == "AED"
        assert 0 <= p.amount_refunded_minor <= p.amount_minor


def test_deal_stage_history_follows_the_funnel(workspace, loaded):
    order = dict(PipelineStage.objects.filter(workspace=workspace).values_list("stage_id", "display_order"))
    history = defaultdict(list)
    for deal_id, stage_id, entered_at in DealStageHistory.objects.filter(workspace=workspace).values_list(
            "deal_id", "stage_id", "entered_at").order_by("deal_id", "entered_at", "id"):
        history[deal_id].append((stage_id, entered_at))
    deals = dict(Deal.objects.filter(workspace=workspace).values_list("pk", "stage_id"))

    assert set(history) == set(deals)  # every deal has a history
    for deal_id, entries in history.items():
        stages = [s for s, _ in entries]
        assert all(s in order for s in stages), stages  # every stage id is a configured pipeline stage
        assert len(stages) == len(set(stages)), stages
        if "closedlost" in stages:
            assert stages[-1] == "closedlost", stages  # an exit: nothing after it
            stages = stages[:-1]
        assert "closedlost" not in stages
        orders = [order[s] for s in stages]
        assert orders == sorted(orders), entries  # in funnel order, by time
        assert deals[deal_id] == entries[-1][0]  # the deal stands in the stage it entered last
        times = [t for _, t in entries]
        assert times == sorted(times)


def test_sessions_lie_within_their_package_dates(workspace, loaded):
    sessions = list(TrainingSession.objects.filter(workspace=workspace).select_related("package"))
    assert sessions
    for s in sessions:
        assert s.package is not None
        assert s.package.contact_id == s.contact_id
        local_day = s.starts_at.astimezone(DUBAI).date()
        assert s.package.starts_on <= local_day <= s.package.expires_on, (s.source_id, local_day)
        assert local_day <= PARAMS["end"]


def test_packages_use_no_more_sessions_than_purchased_and_count_them_right(workspace, loaded):
    used = defaultdict(int)
    for package_id, status in TrainingSession.objects.filter(workspace=workspace).values_list("package_id", "status"):
        used[package_id] += status in ("attended", "late_cancel")  # a late cancel uses the session
    packages = list(Package.objects.filter(workspace=workspace))
    assert packages
    for p in packages:
        assert 0 <= p.sessions_used <= p.sessions_purchased
        assert p.sessions_used == used[p.pk], p.source_id
        assert p.starts_on <= p.expires_on


def test_nothing_happens_after_the_end_date(workspace, loaded):
    end = datetime(2026, 11, 26, tzinfo=DUBAI)
    assert not Contact.objects.filter(workspace=workspace, created_at__gte=end).exists()
    assert not Call.objects.filter(workspace=workspace, started_at__gte=end).exists()
    assert not Payment.objects.filter(workspace=workspace, created__gte=end).exists()
    assert not DealStageHistory.objects.filter(workspace=workspace, entered_at__gte=end).exists()
    assert not AdInsight.objects.filter(workspace=workspace, date__gt=PARAMS["end"]).exists()


def test_every_row_is_flagged_demo(workspace, loaded):
    for label, count in loaded.items():
        model = apps.get_model(label)
        rows = model.objects.filter(workspace=workspace)
        assert rows.count() == count, label
        assert not rows.filter(is_demo=False).exists(), label


# --- purge ----------------------------------------------------------------------------------------------------------


def test_purge_removes_exactly_the_demo_rows(workspace, other_workspace, make_user):
    real = Contact.objects.create(workspace=workspace, email_normalized="real@client.ae", first_name="Real",
                                  created_at=timezone.now())
    real_staff = Staff.objects.create(workspace=workspace, name="Real Coach", kind="coach")
    counts = loader.load(workspace_id=workspace.pk, **PARAMS)
    loader.load(workspace_id=other_workspace.pk, **PARAMS)
    # A real call that the identity matcher linked to a demo contact.
    demo_contact = Contact.objects.filter(workspace=workspace, is_demo=True).first()
    real_call = Call.objects.create(workspace=workspace, source_id="real-1", contact=demo_contact, staff=real_staff,
                                    started_at=timezone.now(), outcome="answered")
    # A real user whose membership points at demo staff keeps the login, loses the link.
    demo_staff = Staff.objects.filter(workspace=workspace, is_demo=True, kind="coach").first()
    coach = make_user(workspace, "coach", staff=demo_staff, username="real-coach")
    stages_before = PipelineStage.objects.filter(workspace=workspace).count()
    other_before = fingerprint(other_workspace)

    removed = loader.purge(workspace_id=workspace.pk)

    for label, count in counts.items():
        assert removed[label] == count, label
        assert not apps.get_model(label).objects.filter(workspace=workspace, is_demo=True).exists(), label
    assert list(Contact.objects.filter(workspace=workspace)) == [real]
    assert list(Staff.objects.filter(workspace=workspace)) == [real_staff]
    real_call.refresh_from_db()
    assert real_call.contact_id is None
    assert User.objects.filter(pk=coach.pk).exists()
    assert coach.memberships.get().staff_id is None
    assert PipelineStage.objects.filter(workspace=workspace).count() == stages_before == 8
    # The other workspace's demo rows are untouched.
    assert fingerprint(other_workspace) == other_before


# --- the management command -----------------------------------------------------------------------------------------


def _command(*args):
    call_command("demo_data", "--clients", "40", "--days", "60", "--seed", "7", "--end", "2026-11-25", *args)


def test_unknown_workspace_names_the_existing_ones(other_workspace):
    with pytest.raises(CommandError) as excinfo:
        call_command("demo_data", "--workspace", "nope")
    message = str(excinfo.value)
    assert "'nope'" in message
    assert "ptd" in message and "abu-dhabi" in message


def test_loading_twice_without_purge_is_refused(workspace, capsys):
    _command("--no-users")
    assert Contact.objects.filter(workspace=workspace, is_demo=True).count() == 400
    with pytest.raises(CommandError, match="already holds demo data; run with --purge first"):
        _command("--no-users")
    assert Contact.objects.filter(workspace=workspace, is_demo=True).count() == 400

    call_command("demo_data", "--purge")
    assert "removed" in capsys.readouterr().out
    assert not Contact.objects.filter(workspace=workspace, is_demo=True).exists()
    _command("--no-users")  # loads again after the purge
    assert Contact.objects.filter(workspace=workspace, is_demo=True).count() == 400


@pytest.mark.parametrize("args,message", [
    (["--days", "10"], "--days at least 30"),
    (["--clients", "0"], "--clients must be at least 1"),
    (["--end", "25/11/2026"], "--end must be a date like 2026-11-25"),
])
def test_bad_arguments_are_refused(workspace, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("demo_data", *args)
    assert not Contact.objects.filter(workspace=workspace).exists()


def test_command_creates_demo_logins_linked_to_demo_staff_and_purge_removes_them(workspace, settings, capsys):
    settings.PTD_DEMO_PASSWORD = "demo-password-for-tests"
    _command()
    assert "demo logins created: admin, coach, setter, viewer / password: demo-password-for-tests" in capsys.readouterr().out
    users = {u.username: u for u in User.objects.filter(is_demo=True)}
    assert set(users) == {"admin", "coach", "setter", "viewer"}
    roles = {m.user.username: (m.role, m.staff) for m in workspace.memberships.select_related("user", "staff")}
    assert roles["coach"][0] == "coach" and roles["coach"][1].is_demo and roles["coach"][1].kind == "coach"
    assert roles["setter"][0] == "setter" and roles["setter"][1].kind == "setter"
    assert Contact.objects.filter(coach=roles["coach"][1]).exists()  # the coach has clients to look at
    assert Call.objects.filter(staff=roles["setter"][1]).exists()
    assert users["coach"].check_password("demo-password-for-tests")

    call_command("demo_data", "--purge")
    assert not User.objects.filter(is_demo=True).exists()
    assert not Contact.objects.filter(workspace=workspace).exists()


def test_first_call_times_agree_with_the_calls(workspace, loaded):
    """The generator writes each lead's first call time (COPY fires no trigger); the definition finds nothing to
    change."""
    from clients.first_times import FIRST_CALL

    assert Contact.objects.filter(workspace=workspace, first_call_at__isnull=False).exists()
    assert FIRST_CALL.refresh(workspace_id=workspace.pk) == 0


def test_customers_carry_their_lifetime_value(workspace, loaded):
    """COPY bypasses the payment services: the loader fills each customer's lifetime value (the Stripe page's top
    customers), equal to its collected payments less refunds."""
    from django.db.models import F, Sum

    from finance.models import Customer

    expected = defaultdict(int)
    for customer_id, net in (Payment.objects.filter(workspace=workspace, status__in=Payment.COLLECTED_STATUSES)
                             .values_list("customer_id").annotate(net=Sum(F("amount_minor") - F("amount_refunded_minor")))):
        expected[customer_id] = net
    stored = dict(Customer.objects.filter(workspace=workspace).values_list("pk", "lifetime_value_minor"))
    assert stored and any(stored.values())
    assert stored == {pk: expected[pk] for pk in stored}


def test_contacts_carry_their_first_paid_touch(workspace, loaded):
    """COPY fires no trigger: the loader stores each contact's first paid touch and first collected payment, as the
    definitions give them."""
    from finance.first_payment import FIRST_PAYMENT
    from marketing.first_touch import contacts_first_touch_refresh

    assert Contact.objects.filter(workspace=workspace, first_touch_at__isnull=False).exists()
    assert Contact.objects.filter(workspace=workspace, first_paid_at__isnull=False).exists()
    assert contacts_first_touch_refresh(workspace_id=workspace.pk) == 0
    assert FIRST_PAYMENT.refresh(workspace_id=workspace.pk) == 0


def test_attended_months_agree_with_the_sessions(workspace, loaded):
    """COPY fires no trigger: the loader builds who trained when from the attended sessions."""
    from clients.models import AttendedMonth

    expected = defaultdict(int)
    tz = ZoneInfo(workspace.timezone)
    for contact_id, starts_at in TrainingSession.objects.filter(workspace=workspace, status="attended").values_list(
            "contact_id", "starts_at"):
        local = starts_at.astimezone(tz)
        expected[(contact_id, local.date().replace(day=1))] |= 1 << (local.day - 1)
    stored = {(a.contact_id, a.month): a.days for a in AttendedMonth.objects.filter(workspace=workspace)}
    assert stored and stored == expected
