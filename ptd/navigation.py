"""The left navigation: one entry per page that exists, grouped by job (DESIGN §7b), with the roles
that may open it. A page's issue adds its line here when the page lands."""

from dataclasses import dataclass

from django.urls import reverse

from ptd.models import Role

ALL_ROLES = frozenset(Role.values)
STAFF_ROLES = frozenset({Role.ADMIN, Role.VIEWER, Role.COACH})
SETTER_PAGES = frozenset({Role.ADMIN, Role.VIEWER, Role.SETTER})
ADMIN_ONLY = frozenset({Role.ADMIN})
# Finance and ad spend: coaches and setters see none of it.
MONEY_ROLES = frozenset({Role.ADMIN, Role.VIEWER})

GROUPS = ["Today", "Clients", "Sales", "Marketing", "Money", "AI", "Settings"]


@dataclass(frozen=True)
class NavEntry:
    group: str
    label: str
    url_name: str
    roles: frozenset


ENTRIES = [
    NavEntry("Today", "Executive", "home", STAFF_ROLES),
    NavEntry("Today", "Overview", "overview", STAFF_ROLES),
    NavEntry("Today", "Interventions", "interventions", STAFF_ROLES),
    NavEntry("Clients", "Clients", "clients", STAFF_ROLES),
    NavEntry("Clients", "Coaches", "coaches", STAFF_ROLES),
    NavEntry("Sales", "Sales pipeline", "sales-pipeline", STAFF_ROLES),
    NavEntry("Sales", "Setter activity", "setter-activity", SETTER_PAGES),
    NavEntry("Sales", "Sales coach tracker", "sales-coach-tracker", STAFF_ROLES),
    NavEntry("Marketing", "Marketing intelligence", "marketing-intelligence", MONEY_ROLES),
    NavEntry("Marketing", "Campaign money map", "money-map", MONEY_ROLES),
    NavEntry("Marketing", "Meta dashboard", "meta-dashboard", MONEY_ROLES),
    NavEntry("Marketing", "Attribution war room", "attribution", MONEY_ROLES),
    NavEntry("Marketing", "Deep intelligence", "deep-intel", MONEY_ROLES),
    NavEntry("Money", "Stripe intelligence", "stripe", MONEY_ROLES),
    NavEntry("Settings", "Your data", "data-sources", ALL_ROLES),
    NavEntry("Settings", "Integrations", "settings", ADMIN_ONLY),
    NavEntry("Settings", "API reference", "api-docs", ADMIN_ONLY),
    NavEntry("Settings", "Django admin", "admin:index", ADMIN_ONLY),
]


def can_open(role: str, url_name: str) -> bool:
    return any(e.url_name == url_name and role in e.roles for e in ENTRIES)


def nav_for(role: str, current_path: str) -> list[dict]:
    groups = []
    for group in GROUPS:
        items = []
        for entry in ENTRIES:
            if entry.group == group and role in entry.roles:
                url = reverse(entry.url_name)
                active = current_path == url if url == "/" else current_path.startswith(url)
                items.append({"label": entry.label, "url": url, "active": active})
        if items:
            groups.append({"label": group, "items": items})
    return groups
