"""Attribution (marketing.attribution) and the truth triangle (marketing.truth): a multi-touch fixture whose
first / last / linear credit, cash and cohort bases, refunds and disputes, discrepancy lists, registered metrics
and role scoping are all checked against values computed by hand.

October 2026 (Asia/Dubai). Campaigns C1, C2, C3 with one ad set and one ad each; ids are Meta-shaped.
Touches before each contact's first payment (the conversion):
- Pia (Dana's): her contact record names ad A1 (2 Oct), AnyTrack ad A2 (5 Oct), AnyTrack campaign C3 only
  (9 Oct); pays 3,000 on 10 Oct; a click on A2 on 20 Oct comes after her payment and does not count.
- Quinn (Dana's): AnyTrack ad A2 twice a minute apart (one click, two reports), then ad A1 (6 Oct);
  pays 2,000 on 15 Oct, 500 refunded on 20 Oct.
- Dina (created in September): her contact names ad set S3 only; pays 1,500 on 1 Oct, disputed and lost on 25 Oct.
- Eli (created in September): utm_content carries ad A1's id; pays 800 on 3 Oct.
- Lou: contact names ad A2, booked on 12 Oct; pays 700 on 5 Nov (cohort basis only).
- Rae: no paid touch, pays 1,000 (organic). Walt: a payment without deal. Una: a won deal without payment.
  A purchase of 2,500 claimed by AnyTrack on 26 Oct matches no payment.
"""

from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from clients.funnel import deal_funnel_refresh
from clients.models import Contact, Deal, DealStageHistory
from finance.models import Dispute, Payment, Refund
from marketing.attribution import (BASES, LEVELS, MODELS, AttributionError, attributed, attributed_net_revenue,
                                  credit_weights, credits)
from marketing.models import Ad, AdInsight, AdSet, AttributionEvent, Campaign
from marketing.truth import (claimed_conversions_without_payment, payments_without_deal, truth_triangle,
                             won_deals_without_payment)
from ptd.metrics import kpi, kpis
from ptd.periods import resolve_period
from ptd.scoping import Scope

DUBAI = ZoneInfo("Asia/Dubai")
OCT = resolve_period("custom", today=date(2026, 11, 25), tz=DUBAI, date_from="2026-10-01", date_to="2026-10-31")
NOW = datetime(2026, 11, 20, 12, tzinfo=DUBAI)
STAGE = {"booked": "122237508", "held": "122237276", "won": "closedwon"}
C1, C2, C3 = "120001", "120002", "120003"
S1, S2, S3 = "220001", "220002", "220003"
A1, A2, A3 = "320001", "320002", "320003"


def at(month, day, hour=12, minute=0):
    return datetime(2026, month, day, hour, minute, tzinfo=DUBAI)


def scope(user):
    return Scope.of(user.memberships.select_related("workspace").get())


@pytest.fixture
def world(workspace, make_staff, make_user):
    ws = workspace
    dana = make_staff(ws, "coach", name="Dana")
    ads = {}
    for campaign_id, adset_id, ad_id, spend, claimed in [(C1, S1, A1, "1000", "3000"), (C2, S2, A2, "2000", "1000"),
                                                          (C3, S3, A3, "500", "0")]:
        campaign = Campaign.objects.create(workspace=ws, meta_id=campaign_id, name=f"Campaign {campaign_id}")
        adset = AdSet.objects.create(workspace=ws, meta_id=adset_id, campaign=campaign, name=f"Ad set {adset_id}")
        ad = ads[ad_id] = Ad.objects.create(workspace=ws, meta_id=ad_id, adset=adset, campaign=campaign,
                                            name=f"Ad {ad_id}")
        AdInsight.objects.create(workspace=ws, ad=ad, adset=adset, campaign=campaign, date=date(2026, 10, 15),
                                 spend=Decimal(spend), purchase_value=Decimal(claimed))
    AdInsight.objects.create(workspace=ws, ad=ads[A1], adset=ads[A1].adset, campaign=ads[A1].campaign,
                             date=date(2026, 9, 15), spend=Decimal("300"))  # September: the prior period

    def contact(name, created, coach=None, **ids):
        return Contact.objects.create(workspace=ws, first_name=name, created_at=created, coach=coach, **ids)

    def deal(person, history, amount, owner=None):
        row = Deal.objects.create(workspace=ws, contact=person, owner=owner, stage_id=STAGE[history[-1][0]],
                                  amount=Decimal(amount), created_at=history[0][1])
        DealStageHistory.objects.bulk_create([DealStageHistory(workspace=ws, deal=row, stage_id=STAGE[step],
                                                               entered_at=when) for step, when in history])
        deal_funnel_refresh(workspace_id=ws.pk, deal_ids=[row.pk])
        return row

    def pay(charge, person, amount, when, linked_deal, **extra):
        return Payment.objects.create(workspace=ws, stripe_id=charge, contact=person, deal=linked_deal,
                                      amount_minor=amount * 100, currency="AED", created=when,
                                      status=extra.pop("status", "succeeded"), **extra)

    def touch(person, when, event="PageView", **ids):
        return AttributionEvent.objects.create(workspace=ws, external_id=f"{person.first_name}-{when:%m%d%H%M}",
                                               contact=person, event_name=event, occurred_at=when, **ids)

    pia = contact("Pia", at(10, 2), dana, fb_ad_id=A1)
    touch(pia, at(10, 5), ad_id=A2)
    touch(pia, at(10, 9), campaign_id=C3)
    touch(pia, at(10, 20), ad_id=A2)  # after her payment
    pia_deal = deal(pia, [("booked", at(10, 6)), ("held", at(10, 8)), ("won", at(10, 10))], "3000", dana)
    pay("ch_pia", pia, 3000, at(10, 10), pia_deal)

    quinn = contact("Quinn", at(10, 3, 9, 59), dana)
    touch(quinn, at(10, 3, 10), event="Lead", ad_id=A2)
    touch(quinn, at(10, 3, 10, 1), ad_id=A2)  # the same click reported again
    touch(quinn, at(10, 6), ad_id=A1)
    quinn_deal = deal(quinn, [("booked", at(10, 4)), ("held", at(10, 7)), ("won", at(10, 15))], "2000", dana)
    quinn_paid = pay("ch_quinn", quinn, 2000, at(10, 15), quinn_deal, status="partially_refunded",
                     amount_refunded_minor=50000)
    Refund.objects.create(workspace=ws, stripe_id="re_quinn", payment=quinn_paid, amount_minor=50000,
                          currency="AED", status="succeeded", created=at(10, 20))

    dina = contact("Dina", at(9, 20), fb_adset_id=S3)
    dina_deal = deal(dina, [("booked", at(9, 22)), ("held", at(9, 25)), ("won", at(10, 1))], "1500")
    dina_paid = pay("ch_dina", dina, 1500, at(10, 1), dina_deal, disputed=True)
    Dispute.objects.create(workspace=ws, stripe_id="dp_dina", payment=dina_paid, amount_minor=150000,
                           currency="AED", status="lost", created=at(10, 25))

    eli = contact("Eli", at(9, 10), utm_source="facebook", utm_content=A1)
    eli_deal = deal(eli, [("booked", at(9, 11)), ("won", at(9, 15))], "800")
    pay("ch_eli", eli, 800, at(10, 3), eli_deal)

    lou = contact("Lou", at(10, 11), fb_ad_id=A2)
    lou_deal = deal(lou, [("booked", at(10, 12))], "700")
    pay("ch_lou", lou, 700, at(11, 5), lou_deal)

    rae = contact("Rae", at(10, 4))
    rae_deal = deal(rae, [("booked", at(10, 5)), ("held", at(10, 6)), ("won", at(10, 12))], "1000")
    pay("ch_rae", rae, 1000, at(10, 12), rae_deal)

    walt = contact("Walt", at(8, 1))
    pay("ch_walt", walt, 400, at(10, 18), None)
    una = contact("Una", at(8, 2))
    deal(una, [("booked", at(10, 18)), ("won", at(10, 22))], "5000")

    # AnyTrack's purchases: Pia's matches her charge id, Quinn's her payment of the day before; the last matches none.
    AttributionEvent.objects.create(workspace=ws, external_id="buy-pia", contact=pia, event_name="Purchase",
                                    value=Decimal("3000"), transaction_id="ch_pia", occurred_at=at(10, 10, 13))
    AttributionEvent.objects.create(workspace=ws, external_id="buy-quinn", contact=quinn, event_name="Purchase",
                                    value=Decimal("2000"), occurred_at=at(10, 16))
    ghost = AttributionEvent.objects.create(workspace=ws, external_id="buy-ghost", event_name="Purchase",
                                            value=Decimal("2500"), transaction_id="pi_unknown",
                                            occurred_at=at(10, 26))
    users = {role: make_user(ws, role, staff=dana if role == "coach" else None) for role in ("admin", "coach")}
    return {"admin": scope(users["admin"]), "coach": scope(users["coach"]), "ghost": ghost,
            "contacts": {c.first_name: c for c in (pia, quinn, dina, eli, lou, rae, walt, una)}}


def by_key(rows):
    return {row.key: row for row in rows}


# --- the weights ---------------------------------------------------------------------------------

def test_credit_weights_by_model():
    touches = ["A", "B", "B", "C", "A"]  # B twice in a row is one touch: four touches A B C A
    assert credit_weights(touches, "first") == {"A": 1}
    assert credit_weights(touches, "last") == {"A": 1}
    assert credit_weights(touches, "linear") == {"A": Fraction(1, 2), "B": Fraction(1, 4), "C": Fraction(1, 4)}
    assert credit_weights([], "linear") == {}
    with pytest.raises(AttributionError, match="valid: first, last, linear"):
        credit_weights(touches, "middle")


@pytest.mark.django_db
@pytest.mark.parametrize("model", ["first", "last", "linear"])
def test_sql_credit_table_follows_the_pure_rule(world, model):
    """The credit table computed in SQL gives each contact the weights credit_weights gives its touches."""
    touches = {  # (ad, ad set, campaign) in time order, before the conversion, resolved through the Meta structure
        "Pia": [(A1, S1, C1), (A2, S2, C2), (None, None, C3)],
        "Quinn": [(A2, S2, C2), (A2, S2, C2), (A1, S1, C1)],
        "Dina": [(None, S3, C3)],
        "Eli": [(A1, S1, C1)],
        "Lou": [(A2, S2, C2)],
    }
    ids = {c.pk: name for name, c in world["contacts"].items()}
    for level, part in (("ad", 0), ("adset", 1), ("campaign", 2)):
        expected = {}
        for name, sequence in touches.items():
            for touch, weight in credit_weights(sequence, model).items():
                expected[(name, touch[part])] = expected.get((name, touch[part]), 0) + weight
        got = credits(access=world["admin"], period=OCT, model=model, level=level, now=NOW)
        assert {(ids[c], key): round(float(weight), 12) for c, key, weight in got} == {
            k: round(float(v), 12) for k, v in expected.items()}, level


@pytest.mark.django_db
@pytest.mark.parametrize("basis", BASES)
def test_the_stored_first_touch_gives_the_credit_the_touches_give(world, basis):
    """First touch reads each contact's stored first touch (marketing.first_touch); ordering all its touches gives
    the same credit at every level."""
    for level in LEVELS:
        stored = credits(access=world["admin"], period=OCT, basis=basis, level=level, now=NOW)
        computed = credits(access=world["admin"], period=OCT, basis=basis, level=level, now=NOW,
                           stored_first_touch=False)
        assert stored == computed and stored, level


@pytest.mark.django_db
def test_net_revenue_is_the_same_under_every_model(world):
    """A contact's weights add up to 1, so the true ROAS numerator does not depend on the model."""
    for basis in BASES:
        total = attributed_net_revenue(access=world["admin"], period=OCT, basis=basis, now=NOW)
        for model in MODELS:
            rows = attributed(access=world["admin"], period=OCT, model=model, basis=basis, now=NOW)
            assert sum(r.net for r in rows) == total, (basis, model)


# --- per campaign, ad set and ad -------------------------------------------------------------------

@pytest.mark.django_db
def test_first_last_and_linear_give_different_correct_revenue(world):
    net = {model: {row.key: row.net for row in attributed(access=world["admin"], period=OCT, model=model, now=NOW)}
           for model in ("first", "last", "linear")}
    # first: Pia 3,000 + Eli 800 → C1; Quinn 2,000 − 500 → C2; Dina 1,500 − 1,500 lost dispute → C3
    assert net["first"] == {C1: Decimal("3800.00"), C2: Decimal("1500.00"), C3: Decimal("0.00")}
    # last: Quinn's 1,500 and Eli's 800 → C1; Pia's 3,000 → C3 (her A2 click after paying does not count)
    assert net["last"] == {C1: Decimal("2300.00"), C2: Decimal("0"), C3: Decimal("3000.00")}
    # linear: Pia a third each; Quinn half to C2 and C1 (her repeated A2 report is one touch)
    assert net["linear"] == {C1: Decimal("2550.00"), C2: Decimal("1750.00"), C3: Decimal("1000.00")}
    assert all(sum(values.values()) == Decimal("5300.00") for values in net.values())


@pytest.mark.django_db
def test_campaign_row_by_hand(world):
    rows = by_key(attributed(access=world["admin"], period=OCT, now=NOW))
    c1, c2, c3 = rows[C1], rows[C2], rows[C3]
    assert c1.name == f"Campaign {C1}" and c1.level == "campaign"
    # C1 first touch: Pia (lead, booked, held, a deal created and won in October) and Eli (cash only)
    assert (c1.spend, c1.meta_value, c1.leads, c1.booked, c1.held, c1.deals, c1.won) == (
        Decimal("1000"), Decimal("3000"), 1, 1, 1, 1, 1)
    assert (c1.cash, c1.refunds, c1.disputed, c1.net) == (Decimal("3800.00"), 0, 0, Decimal("3800.00"))
    assert (c1.cpl, c1.cost_per_booked, c1.roas, c1.meta_roas) == (
        Decimal("1000.00"), Decimal("1000.00"), Decimal("3.8000"), Decimal("3.0000"))
    assert c1.status == "Scale"  # AED 1,000 spent (the minimum), ROAS 3.8 > 2
    # C2: Quinn (lead, booked, held, won) and Lou (lead, booked); the refund reduces the net
    assert (c2.leads, c2.booked, c2.held, c2.deals, c2.won) == (2, 2, 1, 2, 1)
    assert (c2.cash, c2.refunds, c2.net, c2.cpl, c2.cost_per_held) == (
        Decimal("2000.00"), Decimal("500.00"), Decimal("1500.00"), Decimal("1000.00"), Decimal("2000.00"))
    assert (c2.roas, c2.status) == (Decimal("0.7500"), "Kill")
    # C3: Dina's deal won on 1 Oct (created in September: no deal in the period) and her lost dispute
    assert (c3.leads, c3.won, c3.deals, c3.cash, c3.disputed, c3.net) == (
        0, 1, 0, Decimal("1500.00"), Decimal("1500.00"), Decimal("0.00"))
    assert (c3.cost_per_deal, c3.status) == (None, "Too early")  # AED 500 < the AED 1,000 minimum


@pytest.mark.django_db
def test_linear_counts_are_shares(world):
    rows = by_key(attributed(access=world["admin"], period=OCT, model="linear", now=NOW))
    # leads: Pia ⅓ each, Quinn ½ to C1 and C2, Lou 1 to C2
    assert [rows[k].leads for k in (C1, C2, C3)] == [Decimal("0.83"), Decimal("1.83"), Decimal("0.33")]


@pytest.mark.django_db
def test_ad_and_adset_levels_resolve_through_the_meta_structure(world):
    ads = by_key(attributed(access=world["admin"], period=OCT, model="linear", level="ad", now=NOW))
    # Pia's campaign-only touch and Dina's ad-set-only touch name no ad: they gather under None
    assert {k: row.net for k, row in ads.items()} == {
        A1: Decimal("2550.00"), A2: Decimal("1750.00"), A3: Decimal("0"), None: Decimal("1000.00")}
    assert ads[None].name == "No ad id" and ads[A3].spend == Decimal("500") and ads[None].spend == 0
    adsets = by_key(attributed(access=world["admin"], period=OCT, model="first", level="adset", now=NOW))
    # Eli's utm_content names ad A1: its ad set; Dina's ad set S3 (no ad) is known by itself
    assert {k: row.net for k, row in adsets.items()} == {
        S1: Decimal("3800.00"), S2: Decimal("1500.00"), S3: Decimal("0.00")}
    assert adsets[S3].disputed == Decimal("1500.00")


@pytest.mark.django_db
def test_cash_and_cohort_basis_differ(world):
    cohort = by_key(attributed(access=world["admin"], period=OCT, basis="cohort", now=NOW))
    # The October leads and everything they paid to 20 Nov: Pia 3,000 → C1; Quinn 1,500 and Lou's November 700
    # → C2. Eli and Dina (September leads) are out; on the cash basis they were in and Lou's payment was not.
    assert {k: row.net for k, row in cohort.items()} == {C1: Decimal("3000.00"), C2: Decimal("2200.00"),
                                                         C3: Decimal("0")}
    assert (cohort[C2].leads, cohort[C2].booked, cohort[C2].held, cohort[C2].won) == (2, 2, 1, 1)
    before_lou_paid = by_key(attributed(access=world["admin"], period=OCT, basis="cohort", now=at(11, 1)))
    assert before_lou_paid[C2].net == Decimal("1500.00")


@pytest.mark.django_db
def test_attribution_queries_do_not_grow_with_contacts(world, django_assert_max_num_queries):
    # The credit table runs in its own savepoint between SET LOCAL enable_nestloop = off and on: 4 more statements.
    with django_assert_max_num_queries(4 + 4):  # the credit table, spend, names, money-map thresholds
        attributed(access=world["admin"], period=OCT, model="linear", level="ad", now=NOW)
    with django_assert_max_num_queries(1 + 4):
        attributed_net_revenue(access=world["admin"], period=OCT)


@pytest.mark.django_db
def test_the_hash_join_setting_does_not_outlive_the_credit_query(world):
    """Inside an enclosing transaction (a test, a service), the queries after attribution plan as usual."""
    from django.db import connection

    attributed_net_revenue(access=world["admin"], period=OCT)
    with connection.cursor() as cursor:
        cursor.execute("SHOW enable_nestloop")
        assert cursor.fetchone()[0] == "on"


@pytest.mark.django_db
def test_bad_input_names_the_valid_choices(world):
    for wrong, message in [({"model": "middle"}, "model 'middle'; valid: first, last, linear"),
                           ({"basis": "accrual"}, "basis 'accrual'; valid: cash, cohort"),
                           ({"level": "creative"}, "level 'creative'; valid: campaign, adset, ad")]:
        with pytest.raises(AttributionError, match=message):
            attributed(access=world["admin"], period=OCT, **wrong)


# --- the truth triangle --------------------------------------------------------------------------

@pytest.mark.django_db
def test_truth_triangle_values(world):
    triangle = truth_triangle(access=world["admin"], period=OCT)
    assert triangle.crm_won_value == Decimal("12500")  # Pia 3,000 + Quinn 2,000 + Dina 1,500 + Rae 1,000 + Una 5,000
    # Stripe: 3,000 + 2,000 + 1,500 + 800 + 1,000 + 400 collected − the 500 refund (disputes are not refunds)
    assert triangle.stripe_cash == Decimal("8200.00")
    assert triangle.attributed_value == Decimal("7500.00")  # AnyTrack's three purchases
    assert (triangle.verified_value, triangle.meta_claimed_value) == (Decimal("5300.00"), Decimal("4000"))
    assert triangle.integrity_score == Decimal("132.5000")  # 5,300 verified ÷ 4,000 claimed by Meta


@pytest.mark.django_db
def test_each_discrepancy_list_holds_exactly_its_record(world):
    admin = world["admin"]
    assert [d.contact.first_name for d in won_deals_without_payment(access=admin, period=OCT)] == ["Una"]
    assert [p.stripe_id for p in payments_without_deal(access=admin, period=OCT)] == ["ch_walt"]
    assert list(claimed_conversions_without_payment(access=admin, period=OCT)) == [world["ghost"]]
    # Quinn's claim matched her payment of the day before; a week later it would match nothing.
    Payment.objects.filter(stripe_id="ch_quinn").update(created=at(10, 8))
    assert {e.external_id for e in claimed_conversions_without_payment(access=admin, period=OCT)} == {
        "buy-ghost", "buy-quinn"}


@pytest.mark.django_db
def test_registered_metrics_by_hand(world):
    got = {k.name: k for k in kpis(["true_roas", "meta_roas", "integrity_score", "crm_won_value", "stripe_cash",
                                     "attributed_value"], OCT, world["admin"])}
    assert got["true_roas"].value == Decimal("1.5143")  # 5,300 ÷ 3,500 of spend
    assert got["true_roas"].prior == Decimal("0.0000")  # September: AED 300 spent, nothing paid
    assert got["meta_roas"].value == Decimal("1.1429")  # 4,000 ÷ 3,500
    assert got["integrity_score"].value == Decimal("132.5000")
    assert got["crm_won_value"].value == Decimal("12500") and got["crm_won_value"].prior == Decimal("800")  # Eli
    assert got["stripe_cash"].value == Decimal("8200.00")
    assert got["stripe_cash"].value == kpi("cash_collected", OCT, world["admin"]).value  # one definition
    assert got["attributed_value"].value == Decimal("7500.00")


# --- scoping -------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_coach_sees_own_leads_without_spend_or_money(world):
    coach = world["coach"]
    rows = by_key(attributed(access=coach, period=OCT, now=NOW))
    assert set(rows) == {C1, C2}  # Dana's Pia (first touch C1) and Quinn (C2); no spend rows for her
    assert (rows[C1].leads, rows[C1].won, rows[C2].leads, rows[C2].booked) == (1, 1, 1, 1)
    assert all(r.spend is None and r.cash is None and r.net is None and r.roas is None and r.status == ""
               for r in rows.values())
    assert attributed_net_revenue(access=coach, period=OCT) is None
    for name in ("true_roas", "meta_roas", "integrity_score", "stripe_cash", "attributed_value"):
        hidden = kpi(name, OCT, coach)
        assert hidden.value is None and "not shown to your role" in hidden.empty_reason
    assert kpi("crm_won_value", OCT, coach).value == Decimal("5000")  # her own deals: Pia and Quinn
    triangle = truth_triangle(access=coach, period=OCT)
    assert (triangle.stripe_cash, triangle.verified_value, triangle.integrity_score) == (None, None, None)
    for listing in (won_deals_without_payment, payments_without_deal, claimed_conversions_without_payment):
        assert not listing(access=coach, period=OCT).exists()


@pytest.mark.django_db
def test_metrics_say_why_when_a_source_is_missing(workspace, make_user):
    admin = scope(make_user(workspace, "admin"))
    assert "Meta Ads not connected" in kpi("true_roas", OCT, admin).empty_reason
    assert "AnyTrack not connected" in kpi("attributed_value", OCT, admin).empty_reason
    assert kpi("crm_won_value", OCT, admin).value == 0
    assert attributed(access=admin, period=OCT) == []
