"""Churn risk on each score row: from the trained churn model when there is one, else the documented
rule-based estimate of clients.health_formula.rule_based_churn_risk (marked "rule-based")."""

from __future__ import annotations

from ptd.models import Workspace

RULE_BASED = "rule-based"


def churn_risks(*, workspace: Workspace, facts: dict, scores: dict) -> tuple[dict[int, float], str]:
    return {cid: s.churn_risk for cid, s in scores.items()}, RULE_BASED
