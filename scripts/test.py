"""`make test`: the whole suite on PostgreSQL (DATABASE_URL, else the embedded server).

Extra arguments go to pytest: `make test ARGS="-k ledger -x"`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.embedded_db import ROOT, ensure_database


def main(argv: list[str]) -> int:
    with ensure_database() as database_url:
        env = {**os.environ, "DATABASE_URL": database_url}
        workers = env.get("PYTEST_WORKERS", "auto")
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-n",
            workers,
            "--dist",
            "loadgroup",
            "--create-db",
            *argv,
        ]
        return subprocess.call(command, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
