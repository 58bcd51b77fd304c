"""The embedded PostgreSQL (ptd.embedded_db): start in an empty data dir, several processes attaching at
once, status and stop. Every test gets its own short data dir under /tmp (unix socket paths are limited
to ~100 bytes) and the server is always stopped afterwards."""

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import psycopg
import pytest

from ptd import embedded_db

ROOT = Path(__file__).resolve().parent.parent

ATTACH_SCRIPT = """
import json, sys
from pathlib import Path
from ptd import embedded_db
base = Path(sys.argv[1])
conn = embedded_db.ensure_running(base)
pid = int((base / embedded_db.PGDATA_DIRNAME / "postmaster.pid").read_text().splitlines()[0])
print(json.dumps({"host": conn.host, "port": conn.port, "user": conn.user, "pid": pid}))
"""


@pytest.fixture
def base():
    path = Path(tempfile.mkdtemp(prefix="ptdpg", dir="/tmp"))
    try:
        yield path
    finally:
        try:
            embedded_db.stop(path)
        finally:
            # Nothing may survive the test: kill a postmaster that refused to stop, then remove the dir.
            for proc in _postmasters(path):
                proc.kill()
            shutil.rmtree(path, ignore_errors=True)


def _postmasters(base: Path) -> list[psutil.Process]:
    """postgres processes started with -D <this data dir>: the postmaster only (children drop -D)."""
    pgdata = str((base / embedded_db.PGDATA_DIRNAME).resolve())
    found = []
    for proc in psutil.process_iter(attrs=("name", "cmdline")):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and pgdata in cmdline:
            found.append(proc)
    return found


def _select_one(conn: embedded_db.EmbeddedConnection) -> int:
    with psycopg.connect(host=conn.host, port=conn.port, user=conn.user, dbname="postgres", connect_timeout=5) as db:
        return db.execute("SELECT 1").fetchone()[0]


def test_status_of_an_empty_data_dir_is_stopped_and_stop_is_a_no_op(base):
    assert embedded_db.status(base) == f"stopped (data dir {base})"
    assert embedded_db.stop(base) is False
    assert _postmasters(base) == []


def test_start_in_empty_dir_then_status_and_stop(base):
    conn = embedded_db.ensure_running(base)

    assert conn.host == str((base / "pgdata").resolve())  # short path: the socket lives in pgdata itself
    assert Path(conn.host, f".s.PGSQL.{conn.port}").exists()
    assert conn.user == "postgres"
    assert _select_one(conn) == 1
    assert (base / "pgdata" / "PG_VERSION").exists()

    postmasters = _postmasters(base)
    assert len(postmasters) == 1
    assert embedded_db.status(base) == f"running, pid {postmasters[0].pid} (data dir {base})"
    # Attaching again in the same process returns the same connection and starts nothing.
    assert embedded_db.ensure_running(base) == conn
    assert [p.pid for p in _postmasters(base)] == [postmasters[0].pid]

    assert embedded_db.stop(base) is True
    assert embedded_db.status(base) == f"stopped (data dir {base})"
    assert _postmasters(base) == []
    assert not (base / "pgdata" / "postmaster.pid").exists()
    with pytest.raises(psycopg.OperationalError):
        _select_one(conn)
    assert embedded_db.stop(base) is False


def test_concurrent_attach_from_three_processes_starts_one_server(base):
    procs = [
        subprocess.Popen([sys.executable, "-c", ATTACH_SCRIPT, str(base)], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))

    assert len({r["host"] for r in results}) == 1
    assert len({r["pid"] for r in results}) == 1
    assert {r["port"] for r in results} == {5432}
    postmasters = _postmasters(base)
    assert [p.pid for p in postmasters] == [results[0]["pid"]]
    # The server outlives the processes that started it (cleanup_mode=None) ...
    assert postmasters[0].is_running()
    # ... and this process attaches to that same server.
    conn = embedded_db.ensure_running(base)
    assert conn.host == results[0]["host"]
    assert _select_one(conn) == 1
    assert embedded_db.status(base) == f"running, pid {results[0]['pid']} (data dir {base})"

    assert embedded_db.stop(base) is True
    assert embedded_db.status(base).startswith("stopped")
    assert _postmasters(base) == []


def test_stop_from_another_process_then_status_says_stopped(base):
    conn = embedded_db.ensure_running(base)
    assert _select_one(conn) == 1
    stopper = subprocess.run(
        [sys.executable, "-c", "import sys; from pathlib import Path; from ptd import embedded_db; "
                               "print(embedded_db.stop(Path(sys.argv[1])))", str(base)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert stopper.returncode == 0, stopper.stderr
    assert stopper.stdout.strip() == "True"
    assert embedded_db.status(base) == f"stopped (data dir {base})"
    assert _postmasters(base) == []


def test_ensure_running_after_stop_starts_the_server_again(base):
    embedded_db.ensure_running(base)
    assert embedded_db.stop(base) is True

    conn = embedded_db.ensure_running(base)

    assert embedded_db.status(base).startswith("running")
    assert _select_one(conn) == 1
