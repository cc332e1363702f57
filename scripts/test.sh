#!/usr/bin/env bash
# Run the whole test suite: ruff, Django's checks, then pytest (browser tests included).
# On the embedded default it uses SQLite; set DATABASE_URL and CELERY_BROKER_URL for PostgreSQL + Redis,
# where the tests that start real Celery worker processes run too.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(scripts/bootstrap.sh --browser | tail -n 1)
export PATH="$venv/bin:$PATH"
export DJANGO_ALLOW_ASYNC_UNSAFE=true  # Playwright's sync API runs an event loop in the test thread
echo "== ruff"
ruff check .
ruff format --check .
echo "== django checks ($(python -c 'import environ; print(environ.Env().str("DATABASE_URL", default="sqlite"))' | cut -d: -f1))"
python manage.py check --fail-level WARNING
python manage.py makemigrations --check --dry-run >/dev/null
echo "== pytest"
python -m pytest "$@"
