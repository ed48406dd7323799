"""`make run`: the whole platform on one machine.

Starts PostgreSQL (embedded unless DATABASE_URL is set), migrates, loads the demo data, then
serves Bourse with daphne on http://$HOST:$PORT. With REDIS_URL it also runs Celery workers
for every queue, celery beat and Flower; without it, tasks run in process and
`manage.py run_scheduler` runs the periodic jobs.

Ctrl-C or SIGTERM (to this process or its process group) stops everything it started.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.embedded_db import ROOT, _log, ensure_database

PYTHON = sys.executable
GENERAL_QUEUES = "default,notifications,settlement,surveillance,reporting"
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Children get SIGTERM if this supervisor dies without cleaning up (Linux)."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True)


def _celery(*args: str) -> list[str]:
    return [PYTHON, "-m", "celery", "-A", "config", *args]


def _processes(env: dict[str, str], host: str, port: str) -> dict[str, list[str]]:
    procs = {
        "web": [PYTHON, "-m", "daphne", "-b", host, "-p", port, "config.asgi:application"],
    }
    if env.get("REDIS_URL"):
        shards = int(env.get("MATCHING_SHARDS", "2"))
        for shard in range(shards):
            procs[f"matching-{shard}"] = _celery(
                "worker",
                "-Q",
                f"matching.{shard}",
                "-c",
                "1",
                "-n",
                f"matching{shard}@%h",
                "--prefetch-multiplier",
                "1",
                "-l",
                "INFO",
            )
        procs["worker"] = _celery(
            "worker", "-Q", GENERAL_QUEUES, "-c", "2", "-n", "general@%h", "-l", "INFO"
        )
        procs["beat"] = _celery(
            "beat", "-l", "INFO", "-s", str(ROOT / "var" / "celerybeat-schedule")
        )
        procs["flower"] = _celery("flower", f"--address={host}", "--port=5555")
    else:
        procs["scheduler"] = [PYTHON, "manage.py", "run_scheduler"]
    return procs


def _stop(children: dict[str, subprocess.Popen]) -> None:
    for proc in children.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for name, proc in children.items():
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            _log(f"{name} did not stop in time; killing it")
            proc.kill()
            proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--bootstrap-only", action="store_true", help="Migrate and load demo data, then exit."
    )
    args = parser.parse_args()
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")

    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    with ensure_database() as database_url:
        env = {**os.environ, "DATABASE_URL": database_url}
        env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
        # House market makers trade the open instruments so quotes move (beat job).
        env.setdefault("MARKETDATA_SIMULATOR", "1")
        if host not in ("127.0.0.1", "localhost"):
            env.setdefault("DJANGO_ALLOWED_HOSTS", f"{host},127.0.0.1,localhost")
        _manage(env, "migrate", "--noinput")
        _manage(env, "bootstrap_demo")
        if args.bootstrap_only:
            return 0

        children: dict[str, subprocess.Popen] = {}
        for name, command in _processes(env, host, port).items():
            children[name] = subprocess.Popen(
                command, cwd=ROOT, env=env, preexec_fn=_die_with_parent
            )
        if env.get("REDIS_URL"):
            mode = f"Redis: Celery workers, beat and Flower (http://{host}:5555)"
        else:
            mode = "single-machine mode: tasks in process, in-memory channel layer"
        _log(
            f"Bourse is up on http://{host}:{port}  (admin: /admin/, API docs: /api/docs/) — {mode}"
        )
        _log("Ctrl-C stops everything.")
        exit_code = 0
        while not stopping:
            for name, proc in children.items():
                if proc.poll() is not None:
                    _log(f"{name} exited with code {proc.returncode}; stopping the platform")
                    stopping, exit_code = True, 1
                    break
            time.sleep(0.5)
        _log("stopping")
        _stop(children)
        return exit_code


if __name__ == "__main__":
    sys.exit(main())
