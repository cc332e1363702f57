"""A real Celery worker process, for tests that run on PostgreSQL + Redis."""

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


@pytest.fixture
def celery_worker_process(transactional_db, settings, tmp_path):
    """Start ``celery worker`` on both queues against the test database; stop it after the test."""
    if not settings.CELERY_BROKER_URL or connection.vendor != "postgresql":
        pytest.skip("needs CELERY_BROKER_URL (Redis) and DATABASE_URL (PostgreSQL): run on the production stack")
    from geoloc_platform.celery import app

    app.control.purge()  # messages left by an earlier run would race this test's
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "DJANGO_SETTINGS_MODULE": "geoloc_platform.settings",
    }
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "geoloc_platform",
            "worker",
            "-Q",
            "cpu,gpu",
            "-c",
            "1",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "-l",
            "info",
            "-n",
            f"test-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    yield worker
    os.killpg(worker.pid, signal.SIGTERM)
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
    log.close()
    if getattr(settings, "_worker_log_wanted", True):
        print((tmp_path / "worker.log").read_text()[-3000:])


def wait_for(predicate, *, timeout: float = 60.0, interval: float = 0.2):
    """Poll until ``predicate()`` is truthy; the worker runs in another process at its own pace."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")
