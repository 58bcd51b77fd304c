from django.core.management.base import BaseCommand, CommandError

from ptd.models import Workspace
from ptd.rollups import rollups_rebuild_workspace, rollups_refresh


class Command(BaseCommand):
    help = ("Daily measures (ptd.rollups): 'refresh' folds the days written since into them (the every-minute "
            "schedule does this); 'rebuild' recomputes everything (03:15, or after a load that bypassed triggers).")

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["refresh", "rebuild"])
        parser.add_argument("--workspace", default="ptd", help="workspace slug (default ptd)")

    def handle(self, *args, action, workspace, **options):
        found = Workspace.objects.filter(slug=workspace).first()
        if found is None:
            raise CommandError(f"no workspace {workspace!r}; existing: "
                               f"{', '.join(Workspace.objects.values_list('slug', flat=True)) or 'none'}")
        if action == "refresh":
            self.stdout.write(f"{rollups_refresh(workspace=found):,} dirty days folded in for {found.slug}")
        else:
            self.stdout.write(f"{rollups_rebuild_workspace(workspace=found):,} cells rebuilt for {found.slug}")
