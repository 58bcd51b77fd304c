"""The health formula, by hand: each dimension, re-weighting, zone boundaries, flags, trend."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from clients.health_formula import (ClientFacts, engagement, financial, momentum_parts, package_health, relationship,
                                    rule_based_churn_risk, score, zone_for)

DAY = date(2026, 11, 25)


def facts(**kw) -> ClientFacts:
    base = dict(day=DAY, package_sessions=24, package_used=8, package_value=Decimal("6000"),
                package_starts=DAY - timedelta(days=28), package_expires=DAY + timedelta(days=12 * 7 - 28))
    base.update(kw)
    return ClientFacts(**base)


@pytest.mark.parametrize("total, zone", [(49.99, "red"), (50, "yellow"), (69.99, "yellow"), (70, "green"),
                                         (84.99, "green"), (85, "purple"), (100, "purple"), (0, "red")])
def test_zone_boundaries(total, zone):
    assert zone_for(total) == zone


def test_engagement_by_hand():
    # Package: 24 sessions over 12 weeks, less 4 weeks of slack → 3 a week planned.
    f = facts(attended_14=3, attended_28=9, weeks_active_4=3, days_since_attended=12)
    # 0.35 × 3/6 + 0.25 × 9/12 + 0.2 × 3/4 + 0.2 × (21−12)/(21−3) = 0.175 + 0.1875 + 0.15 + 0.1 = 0.6125
    assert engagement(f) == 61.25


def test_financial_by_hand():
    f = facts(payments_30_failed=1, paid_toward_package=Decimal("3000"), outstanding=Decimal("600"),
              refunded_90=Decimal("0"), has_money_records=True)
    # 100 − 25 (one failed) − 30 × 0.5 (half unpaid) − 30 × 0.1 (outstanding 600 / 6000) = 57
    assert financial(f) == 57.0
    assert financial(ClientFacts(day=DAY)) is None


def test_relationship_reweights_over_present_parts():
    # Only recency (10 days: (45−10)/(45−7) = 92.1…) and sentiment (0.2 → 60) present: weights 0.35 / 0.35.
    f = facts(days_since_interaction=10, sentiment_28=0.2)
    assert relationship(f) == round((100 * 35 / 38 + 60) / 2, 2)
    assert relationship(facts()) is None
    assert relationship(facts(survey_score=9, coaches_56=2)) == 75.0  # 90 − 15 for the coach change


def test_package_health_by_hand():
    # 16 sessions left, 56 days (8 weeks) left at 3 a week planned: room 24/16 → 1; burn 8/4 = 2 a week vs 2 needed.
    f = facts(attended_28=8)
    assert package_health(f) == 100.0
    assert package_health(facts(package_expires=DAY - timedelta(days=1))) == 10.0
    assert package_health(facts(package_used=24)) == 100.0
    assert package_health(ClientFacts(day=DAY)) is None


def test_momentum_and_missing_dimensions_reweight_the_total():
    assert momentum_parts(facts(attended_28=4, attended_prev_28=8)) == [25.0]
    only_engagement = facts(attended_14=6, attended_28=12, weeks_active_4=4, days_since_attended=1,
                            package_sessions=None, package_value=None, package_starts=None, package_expires=None)
    s = score(only_engagement)
    assert s.dimensions["financial"] is None and s.dimensions["relationship"] is None
    # engagement (plan unknown → 2 a week) 100 and momentum 100 (12 vs 0): weights 0.30 / 0.15 re-normalised.
    assert s.total == 100.0
    assert any(f["code"] == "dimensions_missing" for f in s.flags)


def test_flags_carry_evidence():
    ends_in_6 = {"package_expires": DAY + timedelta(days=6), "package_starts": DAY + timedelta(days=6 - 84)}
    s = score(facts(days_since_attended=20, payments_30_failed=1, last_failed_on=date(2026, 11, 2),
                    package_used=21, last3_negative=3, last3_count=3, coaches_56=2, has_money_records=True,
                    **ends_in_6))
    texts = {f["text"] for f in s.flags}
    assert "no attended session in 14 days" in texts
    assert "payment failed on 2026-11-02" in texts
    assert "negative sentiment in the last 3 interactions" in texts
    assert "coach changed" in texts
    assert not any("expires" in t for t in texts)  # 3 sessions left in 6 days at 3 a week fit
    s2 = score(facts(package_used=15, **ends_in_6))
    assert "package expires in 6 days with 9 sessions unused" in {f["text"] for f in s2.flags}


def test_trend_and_rule_based_risk():
    f = facts(attended_14=6, attended_28=12, weeks_active_4=4, days_since_attended=1)
    now = score(f).total
    assert score(facts(attended_14=6, attended_28=12, weeks_active_4=4, days_since_attended=1,
                       total_7_days_ago=now - 6)).trend == "improving"
    assert score(facts(attended_14=6, attended_28=12, weeks_active_4=4, days_since_attended=1,
                       total_7_days_ago=now + 6)).trend == "declining"
    assert score(f).trend == "stable"
    assert rule_based_churn_risk(80, [{"severity": "critical"}]) == 32
