"""The two deployments: the embedded default needs no variables; production refuses to start half-configured."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PRINT_SETTINGS = (
    "import django; django.setup(); from django.conf import settings as s; from django.db import connection as c; "
    "c.ensure_connection(); cur = c.cursor(); cur.execute('PRAGMA journal_mode'); "
    "print(s.DEBUG, s.CELERY_TASK_ALWAYS_EAGER, c.vendor, cur.fetchone()[0], s.SESSION_COOKIE_SECURE)"
)


def _run(args: list[str], env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "geoloc_platform.settings", "VAR_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_embedded_default_uses_sqlite_in_wal_mode_without_a_broker_and_debug_off(tmp_path):
    result = _run(["-c", PRINT_SETTINGS], {}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-5:] == ["False", "True", "sqlite", "wal", "False"]
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0  # generated key readable by its owner only


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = _run(["manage.py", "check"], {"DJANGO_ENV": "production"}, tmp_path)
    assert result.returncode != 0
    assert "Set the SECRET_KEY environment variable" in result.stderr


@pytest.mark.parametrize("deploy_env", [{"DJANGO_ENV": "production", "ALLOWED_HOSTS": "geoloc.example.org"}])
def test_production_settings_pass_the_deployment_checklist(tmp_path, deploy_env):
    env = {**deploy_env, "SECRET_KEY": "x7" * 30 + "-not-a-real-key-but-long-and-random-enough"}
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
