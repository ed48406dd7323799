"""PostgreSQL for `make run` and `make test`: DATABASE_URL when set, else an embedded server.

The embedded server (pgserver) keeps its data under var/pgdata and listens on a Unix socket
only. It is stopped when the block that started it ends.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
PGDATA = ROOT / "var" / "pgdata"
DATABASE_NAME = "bourse"


def _log(message: str) -> None:
    print(f"[bourse] {message}", file=sys.stderr, flush=True)


def database_url(
    *, name: str, host: str = "", port: str | int = "", user: str = "postgres", password: str = ""
) -> str:
    """A DATABASE_URL that django-environ reads; ``host`` may be a Unix socket directory."""
    auth = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
    if host.startswith("/"):  # socket directory: django-environ takes it from the path
        return f"postgres://{auth}@/{host}/{name}"
    return f"postgres://{auth}@{host}{f':{port}' if port else ''}/{name}"


@contextmanager
def ensure_database(name: str = DATABASE_NAME) -> Iterator[str]:
    """Yield a DATABASE_URL that points at a running PostgreSQL with database ``name``."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return

    import pgserver
    import psycopg

    PGDATA.parent.mkdir(parents=True, exist_ok=True)
    _log(f"DATABASE_URL is not set: starting embedded PostgreSQL in {PGDATA}")
    server = pgserver.get_server(PGDATA, cleanup_mode="stop")
    try:
        admin_uri = server.get_uri()
        with psycopg.connect(admin_uri, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')
        socket_dir = admin_uri.split("host=", 1)[1].split("&", 1)[0]
        yield database_url(name=name, host=socket_dir)
    finally:
        _log("stopping embedded PostgreSQL")
        server.cleanup()
