"""How long `demo_data` takes at scale, on a fresh embedded PostgreSQL (or DATABASE_URL if set).

    .venv/bin/python bench/demo_data.py [--clients 100000] [--days 365]

Prints the wall time and rows per second; the target is under 10 minutes for 100,000 clients over
365 days on the 2-core machine (docs/performance.md records what we saw).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    env = dict(os.environ)
    data_dir = None
    if not env.get("DATABASE_URL"):
        data_dir = tempfile.mkdtemp(prefix="ptdbench")
        env["PTD_DATA_DIR"] = data_dir
    python = sys.executable
    manage = [python, str(ROOT / "manage.py")]
    try:
        subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, check=True, cwd=ROOT)
        started = time.monotonic()
        run = subprocess.run(
            [*manage, "demo_data", "--clients", str(args.clients), "--days", str(args.days), "--seed", str(args.seed),
             "--end", "2026-11-25", "--no-users"],
            env=env, check=True, cwd=ROOT, capture_output=True, text=True,
        )
        elapsed = time.monotonic() - started
        total = next(line for line in run.stdout.splitlines() if line.startswith("loaded "))
        rows = int(total.split()[1].replace(",", ""))
        print(run.stdout.strip())
        print(f"demo_data --clients {args.clients:,} --days {args.days}: {elapsed:.1f} s wall "
              f"({rows / elapsed:,.0f} rows/s, {rows:,} rows)")
    finally:
        if data_dir:
            subprocess.run([*manage, "embedded_db", "stop"], env=env, cwd=ROOT, capture_output=True)
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
