"""KPIs (DESIGN §7a), being built in this change."""
