import csv

from django.core.management.base import BaseCommand, CommandError

from clients.sessions_feed import sessions_import
from ptd.commands import workspace_arg

REQUIRED = {"starts_at", "status"}


class Command(BaseCommand):
    help = ("Import training sessions from a CSV with columns email, phone, coach, starts_at, status[, id]. "
            "Good rows are imported; each bad row is reported with its line number and reason.")

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--workspace", default="ptd")

    def handle(self, *args, file, workspace, **options):
        ws = workspace_arg(workspace)
        try:
            with open(file, newline="", encoding="utf-8-sig") as handle:
                reader = csv.DictReader(handle)
                columns = {c.strip().lower() for c in reader.fieldnames or []}
                missing = REQUIRED - columns
                if missing or not columns & {"email", "phone"}:
                    need = sorted(missing) + ([] if columns & {"email", "phone"} else ["email or phone"])
                    raise CommandError(f"{file}: the header needs {', '.join(need)}")
                rows = [(reader.line_num, {k.strip().lower(): v for k, v in row.items() if k}) for row in reader]
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise CommandError(f"cannot read {file}: {exc}") from exc
        result = sessions_import(workspace=ws, rows=rows)
        for error in result.errors:
            self.stderr.write(f"line {error.row}: {error.reason}")
        self.stdout.write(f"imported {result.imported} sessions, {len(result.errors)} bad rows")
        if result.errors:
            raise SystemExit(1)
