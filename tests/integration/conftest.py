"""Real Celery worker and beat processes, for tests that run on PostgreSQL + Redis.

``celery_process`` starts one (a worker on chosen queues, or beat) against the test database with a log file the
test can watch; ``process_stop`` ends it. The ``celery_worker_process`` fixture is the common case: one worker on
both queues for the length of a test.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def production_stack_required(settings) -> None:
    if not settings.CELERY_BROKER_URL or connection.vendor != "postgresql":
        pytest.skip("needs CELERY_BROKER_URL (Redis) and DATABASE_URL (PostgreSQL): run on the production stack")


def celery_process(
    settings,
    log_path: Path,
    *,
    beat: bool = False,
    queues: str = "cpu,gpu",
    name: str = "test",
    concurrency: int = 1,
    env: dict | None = None,
    app: str = "geoloc_platform",
) -> subprocess.Popen:
    """Start ``celery worker`` (or ``celery beat``) in its own process group, logging to ``log_path``.

    ``env`` adds or overrides environment variables (settings are read from the environment), e.g. a fake
    server's URL or a short visibility timeout. ``app`` is the module of the Celery app (a test-only wrapper of
    ours, e.g. ``tests.integration.slow_worker``). The process sees the test database and media folder.
    """
    process_env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "DJANGO_SETTINGS_MODULE": "geoloc_platform.settings",
        "PYTHONUNBUFFERED": "1",  # tests read the log while the process runs
        "DIFFICULTY_COLD_START": "false",  # as in the test process (tests/conftest.py); a test may turn it on
        **(env or {}),
    }
    command = [sys.executable, "-m", "celery", "-A", app]
    if beat:
        command += ["beat", "-l", "info", "-s", str(log_path.with_suffix(".schedule")), "--pidfile="]
    else:
        command += ["worker", "-Q", queues, "-c", str(concurrency), "-l", "info", "-n", f"{name}-{os.getpid()}@%h"]
        command += ["--without-heartbeat", "--without-gossip", "--without-mingle"]
    log = log_path.open("w")
    return subprocess.Popen(
        command, cwd=ROOT, env=process_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def process_stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Stop a process started by ``celery_process`` (its whole group: prefork children too)."""
    try:
        os.killpg(process.pid, sig)
        process.wait(timeout=20)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def worker_ready(log_path: Path) -> bool:
    return "ready." in log_path.read_text()


@pytest.fixture
def celery_worker_process(transactional_db, settings, tmp_path):
    """One ``celery worker`` on both queues against the test database, stopped after the test."""
    production_stack_required(settings)
    from geoloc_platform.celery import app

    app.control.purge()  # messages left by an earlier run would race this test's
    log_path = tmp_path / "worker.log"
    worker = celery_process(settings, log_path)
    yield worker
    process_stop(worker)
    print(log_path.read_text()[-3000:])


def wait_for(predicate, *, timeout: float = 60.0, interval: float = 0.2):
    """Poll until ``predicate()`` is truthy; the worker runs in another process at its own pace."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")
