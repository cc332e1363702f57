#!/usr/bin/env bash
# Install and run the platform on the embedded default (SQLite, no broker) with the demo crisis loaded.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(scripts/bootstrap.sh | tail -n 1)
export PATH="$venv/bin:$PATH"
python manage.py migrate --noinput -v 0  # also makes the cache table (geoloc_platform/cache_setup.py)
# The gazetteer for text geolocation: built once (about two minutes), offline, from packaged data.
python manage.py shell -c "from classification.models import Place; raise SystemExit(0 if Place.objects.exists() else 1)" \
  || python manage.py build_gazetteer
python manage.py load_demo ${DEMO_PASSWORD:+--password "$DEMO_PASSWORD"}
python manage.py run_periodic &   # beat + workers stand-in: crawls and the pipeline sweeper
periodic=$!
trap 'kill $periodic 2>/dev/null || true' EXIT
echo "Open http://${HOST:-127.0.0.1}:${PORT:-8000} (admin: /admin/, API docs: /api/docs/)"
python manage.py runserver "${HOST:-127.0.0.1}:${PORT:-8000}" --noreload
