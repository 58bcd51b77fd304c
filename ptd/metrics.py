"""The metrics layer (DESIGN §2.2, §7a): every KPI is one function in its app's metrics.py, registered
here with its name, unit, formula text and source. Pages, the JSON API, exports and the agents all call
`kpi()` / `kpis()`, so a number has one definition wherever it is shown.

A metric function takes (period, access) and returns the value for that period, or None when it cannot
be computed (the KPI then says why). `kpi()` also computes the equal-length prior period and the delta.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from importlib import import_module

from ptd.periods import Period
from ptd.scoping import Scope

METRIC_MODULES = ["clients.metrics", "clients.metrics_sales", "clients.metrics_setters", "finance.metrics",
                  "marketing.metrics"]


@dataclass(frozen=True)
class MetricSpec:
    name: str
    label: str
    unit: str  # "AED", "%", "count", "score", "×"
    formula: str
    source: str
    higher_is_better: bool | None
    func: Callable[[Period, Scope], Decimal | float | int | None]
    unavailable: Callable[[Scope], str] | None = None  # why the metric cannot be shown to this person / here
    # Reads what func needs for a period and its prior together (for the request's memo), before kpi() asks for
    # the two: a heavy figure then costs one read of both windows instead of two.
    with_prior: Callable[[Period, Scope], None] | None = None


_REGISTRY: dict[str, MetricSpec] = {}
_loaded = False


def metric(name: str, *, label: str, unit: str, formula: str, source: str, higher_is_better: bool | None = True,
           unavailable: Callable[[Scope], str] | None = None,
           with_prior: Callable[[Period, Scope], None] | None = None):
    """Register a metric function under its §7a name."""
    def register(func):
        if name in _REGISTRY and _REGISTRY[name].func is not func:
            raise ValueError(f"metric {name!r} is defined twice")
        _REGISTRY[name] = MetricSpec(name, label, unit, formula, source, higher_is_better, func, unavailable,
                                     with_prior)
        return func

    return register


def registry() -> dict[str, MetricSpec]:
    global _loaded
    if not _loaded:
        for module in METRIC_MODULES:
            import_module(module)
        _loaded = True
    return _REGISTRY


@dataclass(frozen=True)
class KPI:
    name: str
    label: str
    unit: str
    formula: str
    source: str
    value: Decimal | None
    prior: Decimal | None
    higher_is_better: bool | None
    empty_reason: str = ""

    @property
    def delta_pct(self) -> Decimal | None:
        """(current − prior) / prior × 100; None ("—") when the prior value is 0 or unknown."""
        if self.value is None or not self.prior:
            return None
        return ((self.value - self.prior) / abs(self.prior) * 100).quantize(Decimal("0.1"))

    @property
    def delta_good(self) -> bool | None:
        if self.delta_pct is None or self.delta_pct == 0 or self.higher_is_better is None:
            return None
        return (self.delta_pct > 0) == self.higher_is_better

    @property
    def display(self) -> str:
        return format_value(self.value, self.unit)

    @property
    def delta_display(self) -> str:
        if self.delta_pct is None:
            return "—"
        return "0.0 %" if self.delta_pct == 0 else f"{self.delta_pct:+.1f} %"  # no arrow for no change

    def as_dict(self) -> dict:
        return {"name": self.name, "label": self.label, "unit": self.unit, "formula": self.formula,
                "source": self.source, "value": _json_number(self.value), "prior": _json_number(self.prior),
                "delta_pct": _json_number(self.delta_pct), "display": self.display,
                "empty_reason": self.empty_reason}


def _json_number(value):
    return None if value is None else float(value)


def format_value(value, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "AED":
        return f"AED {value:,.0f}"
    if unit == "%":
        return f"{value:.1f} %"
    if unit == "×":
        return f"{value:.2f}×"
    if unit == "score":
        return f"{value:.1f}"
    if unit == "minutes":
        return f"{value:,.1f} min"
    return f"{value:,.0f}"


def _decimal(value) -> Decimal | None:
    if value is None:
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


def kpi(name: str, period: Period, access: Scope) -> KPI:
    spec = registry()[name]
    reason = spec.unavailable(access) if spec.unavailable else ""
    if reason:
        return KPI(spec.name, spec.label, spec.unit, spec.formula, spec.source, None, None, spec.higher_is_better,
                   reason)
    if spec.with_prior:
        spec.with_prior(period, access)
    value = _decimal(spec.func(period, access))
    prior = _decimal(spec.func(period.prior(), access))
    return KPI(spec.name, spec.label, spec.unit, spec.formula, spec.source, value, prior, spec.higher_is_better,
               "" if value is not None else "no data in this period")


def kpis(names: list[str], period: Period, access: Scope) -> list[KPI]:
    unknown = [n for n in names if n not in registry()]
    if unknown:
        raise KeyError(f"unknown metric {', '.join(unknown)}; valid metrics: {', '.join(sorted(registry()))}")
    return [kpi(n, period, access) for n in names]


def ratio(numerator, denominator, scale: int = 1) -> Decimal | None:
    """numerator / denominator × scale, None when the denominator is 0 (a rate of nothing is unknown)."""
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator) * scale).quantize(Decimal("0.0001"))
