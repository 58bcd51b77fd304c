"""What a new workspace starts with (DESIGN §5–§6): the seed's pipeline stage ids mapped to funnel
steps, funnel-owner thresholds, benchmarks and the health score's default weights and zone bands.
Used by the initial data migration and by `workspace_create`, so both start the same way."""

PIPELINE_STAGES = [
    # (stage_id, label, funnel_step, order) — HubSpot stage ids are strings, never cast.
    ("appointmentscheduled", "New lead", "lead", 10),
    ("122237508", "Assessment booked", "booked", 20),
    ("122237276", "Assessment held", "held", 30),
    ("decisionmakerboughtin", "Qualified", "qualified", 40),
    ("qualifiedtobuy", "Package selected", "package_selected", 50),
    ("2900542", "Payment pending", "payment_pending", 60),
    ("closedwon", "Closed won", "closed_won", 70),
    ("closedlost", "Closed lost", "closed_lost", 80),
]

FUNNEL_THRESHOLDS = [
    # (from_step, to_step, owner, healthy_min_pct, warning_min_pct)
    ("lead", "booked", "marketing", 40, 25),
    ("booked", "held", "setter", 65, 50),
    ("held", "qualified", "coach", 25, 15),
    ("qualified", "closed_won", "ops", 70, 50),
]

BENCHMARKS = [
    # (key, value, unit, description)
    ("roas_target", "3.00", "×", "Target return on ad spend"),
    ("cpl_target", "30.00", "AED", "Target cost per lead"),
    ("ghost_rate_max", "25.00", "%", "Highest acceptable ghost rate (booked but not held)"),
    ("close_rate_min", "25.00", "%", "Lowest acceptable close rate"),
    ("money_map_scale_roas", "2.00", "×", "Money map: Scale above this ROAS, else Kill"),
    ("money_map_min_spend", "1000.00", "AED", "Money map: Too early below this campaign spend"),
    ("setter_sla_minutes", "5.00", "min", "Setter SLA: first call within this many minutes of lead creation"),
]


def seed_workspace_defaults(workspace, *, PipelineStage, FunnelThreshold, Benchmark, HealthConfig) -> None:
    """Create the defaults a workspace lacks; never overwrite what an admin changed."""
    for stage_id, label, step, order in PIPELINE_STAGES:
        PipelineStage.objects.get_or_create(
            workspace=workspace, pipeline="default", stage_id=stage_id,
            defaults={"label": label, "funnel_step": step, "display_order": order},
        )
    for from_step, to_step, owner, healthy, warning in FUNNEL_THRESHOLDS:
        FunnelThreshold.objects.get_or_create(
            workspace=workspace, from_step=from_step, to_step=to_step,
            defaults={"owner": owner, "healthy_min_pct": healthy, "warning_min_pct": warning},
        )
    for key, value, unit, description in BENCHMARKS:
        Benchmark.objects.get_or_create(workspace=workspace, key=key,
                                        defaults={"value": value, "unit": unit, "description": description})
    HealthConfig.objects.get_or_create(workspace=workspace)
