from zoneinfo import ZoneInfo

from django.utils import timezone

from ptd.models import Role
from ptd.navigation import nav_for
from ptd.periods import PERIOD_CHOICES, PeriodError, resolve_period


def request_period(request):
    """The period in the URL (DESIGN §7: kept in the URL), in the workspace's timezone."""
    tz = ZoneInfo(request.workspace.timezone if getattr(request, "workspace", None) else "Asia/Dubai")
    today = timezone.now().astimezone(tz).date()
    return resolve_period(request.GET.get("period"), today=today, tz=tz,
                          date_from=request.GET.get("from", ""), date_to=request.GET.get("to", ""))


def shell(request):
    if not getattr(request, "user", None) or not request.user.is_authenticated or request.access is None:
        return {"nav": [], "workspace": None, "workspaces": [], "role": "", "demo_loaded": False}
    from clients.models import Contact

    try:
        period = request_period(request)
    except PeriodError:
        period = resolve_period(None, today=timezone.now().date(), tz=ZoneInfo(request.workspace.timezone))
    role = request.access.role
    return {
        "nav": nav_for(role, request.path),
        "workspace": request.workspace,
        "workspaces": [m.workspace for m in request.memberships],
        "role": role,
        "role_label": Role(role).label,
        "demo_loaded": Contact.objects.filter(workspace=request.workspace, is_demo=True).exists(),
        "period": period,
        "period_choices": PERIOD_CHOICES,
    }
