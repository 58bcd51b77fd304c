"""Health scoring speed: clients per second of `score_health` for 1k, 10k and 100k demo clients, and the
naive per-client ORM path (clients.health_reference) on 1k for the ratio.

    .venv/bin/python bench/health_scoring.py [--sizes 1000 10000 100000]

Each size gets its own fresh embedded PostgreSQL (or DATABASE_URL: then sizes share it, in separate
workspaces). Target (issue 4): 100,000 clients in under 60 s on the 2-core machine.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DAY = "2026-11-20"

MEASURE = """
import json, time
from datetime import date
from django.db import connection
from clients.health import score_health
from clients.health_reference import facts_for_client
from clients.health_formula import score
from clients.models import Contact
from ptd.models import Workspace
ws = Workspace.objects.get(slug="ptd")
with connection.cursor() as c:
    c.execute("ANALYZE")
day = date.fromisoformat("%(day)s")
result = score_health(workspace=ws, day=day)
out = {"clients": result["clients"], "collect_s": result["collect_s"], "total_s": result["total_s"]}
if %(naive)s:
    clients = list(Contact.objects.filter(workspace=ws, packages__isnull=False).distinct().select_related("workspace"))
    started = time.monotonic()
    scored = 0
    for contact in clients:
        facts = facts_for_client(contact, day)
        if facts is not None:
            score(facts)
            scored += 1
    out["naive_clients"], out["naive_s"] = scored, round(time.monotonic() - started, 2)
print("RESULT " + json.dumps(out))
"""


def run(size: int, naive: bool) -> dict:
    env = dict(os.environ)
    data_dir = tempfile.mkdtemp(prefix="ptdhs")
    env["PTD_DATA_DIR"] = data_dir
    manage = [sys.executable, str(ROOT / "manage.py")]
    try:
        subprocess.run([*manage, "migrate", "-v", "0"], env=env, cwd=ROOT, check=True)
        subprocess.run([*manage, "demo_data", "--clients", str(size), "--days", "365", "--end", "2026-11-25",
                        "--no-users"], env=env, cwd=ROOT, check=True, capture_output=True)
        out = subprocess.run([*manage, "shell", "-c", MEASURE % {"day": DAY, "naive": naive}], env=env, cwd=ROOT,
                             check=True, capture_output=True, text=True).stdout
        return json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
    finally:
        subprocess.run([*manage, "embedded_db", "stop"], env=env, cwd=ROOT, capture_output=True)
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    args = parser.parse_args()
    for size in args.sizes:
        r = run(size, naive=size <= 1000)
        line = (f"demo --clients {size:>7,}: scored {r['clients']:>7,} clients in {r['total_s']:6.2f} s "
                f"({r['clients'] / max(r['total_s'], 1e-9):9,.0f} clients/s; facts in SQL {r['collect_s']:.2f} s)")
        if "naive_s" in r:
            line += (f"; naive per-client ORM: {r['naive_clients']:,} in {r['naive_s']:.2f} s "
                     f"({r['naive_clients'] / r['naive_s']:,.0f} clients/s, {r['naive_s'] / r['total_s']:.0f}× slower)")
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
