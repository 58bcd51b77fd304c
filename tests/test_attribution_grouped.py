"""First touch summed per stored first touch (marketing.attribution.first_touch_sql, issue 6) against the per-contact
credit (each contact's touches ordered, its outcomes weighed): on the multi-touch world of tests/test_attribution.py,
identical rows for every level, basis, outcome set and role, and the true ROAS numerator their sum.

Two more contacts put the conversion cutoff to work: Max's only touch (ad A3, 4 Oct) comes after his payment of
2 Oct, so it never counts; Noor, an October lead, is first touched by ad A3 on 3 Nov: after the October window on
the cash basis, before now on the cohort basis."""

from datetime import date
from decimal import Decimal

import pytest

from clients.models import Contact
from finance.models import Payment
from marketing.attribution import (LEVELS, MONEY_OUTCOMES, OUTCOMES, attributed, attributed_net_revenue,
                                   net_revenue_with_prior)
from marketing.models import AttributionEvent
from ptd.scoping import Scope
from tests.test_attribution import A3, C3, DUBAI, NOW, OCT, at, world  # noqa: F401  (the shared fixture)


@pytest.fixture
def scopes(world, workspace, make_user, make_staff):  # noqa: F811
    max_ = Contact.objects.create(workspace=workspace, first_name="Max", created_at=at(10, 1))
    Payment.objects.create(workspace=workspace, stripe_id="ch_max", contact=max_, amount_minor=90000, currency="AED",
                           created=at(10, 2), status="succeeded")
    noor = Contact.objects.create(workspace=workspace, first_name="Noor", created_at=at(10, 21))
    for person, when in ((max_, at(10, 4)), (noor, at(11, 3))):
        AttributionEvent.objects.create(workspace=workspace, external_id=f"{person.first_name}-ad", contact=person,
                                        event_name="PageView", occurred_at=when, ad_id=A3)

    def scope(role, **extra):
        return Scope.of(make_user(workspace, role, **extra).memberships.select_related("workspace").get())

    return {"admin": world["admin"], "coach": world["coach"], "viewer": scope("viewer"),
            "setter": scope("setter", staff=make_staff(workspace, "setter"))}


@pytest.mark.django_db
@pytest.mark.parametrize("basis", ["cash", "cohort"])
@pytest.mark.parametrize("role", ["admin", "coach", "viewer", "setter"])
def test_grouped_first_touch_gives_the_per_contact_rows(scopes, basis, role):
    access = scopes[role]
    for now in (NOW, at(11, 1)):  # before Lou's payment too: a contact whose conversion has not come yet
        for level in LEVELS:
            for outcomes in (OUTCOMES, MONEY_OUTCOMES):
                grouped = attributed(access=access, period=OCT, basis=basis, level=level, now=now, outcomes=outcomes)
                per_contact = attributed(access=access, period=OCT, basis=basis, level=level, now=now,
                                         outcomes=outcomes, stored_first_touch=False)
                # repr too: the same Decimal scale (AED 1,500.00, 2.00 leads), not only equal values
                assert grouped == per_contact and list(map(repr, grouped)) == list(map(repr, per_contact)), (
                    level, outcomes, now)
                if role == "admin" and outcomes == OUTCOMES:
                    assert any(row.leads for row in grouped) and any(row.net for row in grouped)
        if role == "admin":  # Max never counts; Noor's lead goes to C3 on the cohort basis once 3 Nov has passed
            leads = {row.key: row.leads for row in attributed(access=access, period=OCT, basis=basis, now=now)}
            assert leads[C3] == (Decimal("1.00") if basis == "cohort" and now == NOW else 0)
        if role in ("admin", "viewer"):
            rows = attributed(access=access, period=OCT, basis=basis, now=now, stored_first_touch=False)
            assert attributed_net_revenue(access=access, period=OCT, basis=basis, now=now) == sum(
                row.net for row in rows)
        else:
            assert attributed_net_revenue(access=access, period=OCT, basis=basis, now=now) is None


@pytest.mark.django_db
def test_net_revenue_of_a_period_and_its_prior_read_together_equal_each_read_alone(scopes, workspace):
    """A request's true-ROAS KPI reads the period and its prior together (the metric's with_prior), and the two
    equal what each window gives on its own (a scope without a request memo reads each alone)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from ptd.periods import resolve_period

    admin = scopes["admin"]
    periods = [OCT, resolve_period("custom", today=date(2026, 11, 25), tz=DUBAI, date_from="2026-11-01",
                                   date_to="2026-11-30"),
               resolve_period("custom", today=date(2026, 11, 25), tz=DUBAI, date_from="2026-10-05",
                              date_to="2026-10-11")]
    seen = []
    for period in periods:
        request = Scope(user_id=admin.user_id, workspace=admin.workspace, role=admin.role, staff_id=None, memo={})
        with CaptureQueriesContext(connection) as queries:
            net_revenue_with_prior(period, request)  # what the true ROAS KPI does before reading the two
            together = (attributed_net_revenue(access=request, period=period),
                        attributed_net_revenue(access=request, period=period.prior()))
        assert len(queries) == 2, period  # the rollup's dirty days, then both periods' sums
        alone = (attributed_net_revenue(access=admin, period=period),
                 attributed_net_revenue(access=admin, period=period.prior()))
        assert together == alone, period
        seen += alone
    assert any(seen)  # money in some of the windows
