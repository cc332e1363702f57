# The two commands of the README, and a few more for development.
.PHONY: run test test-postgres bench check-deploy messages

run:            ## install and run on the embedded default with the demo crisis, at http://127.0.0.1:8000
	scripts/run.sh

test:           ## the whole test suite (SQLite; PostgreSQL + Redis when DATABASE_URL and CELERY_BROKER_URL are set)
	scripts/test.sh

test-postgres:  ## the same suite on the local PostgreSQL + Redis
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/geoloc CELERY_BROKER_URL=redis://127.0.0.1:6379/0 \
	REDIS_URL=redis://127.0.0.1:6379/1 scripts/test.sh

bench:          ## every benchmark, each printing figures beside its baseline
	.venv/bin/python -m bench

check-deploy:   ## Django's deployment checklist on production settings
	DJANGO_ENV=production SECRET_KEY=$$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(50))') \
	ALLOWED_HOSTS=geoloc.example.org .venv/bin/python manage.py check --deploy --fail-level WARNING

messages:       ## regenerate the pt, fr and es catalogues from the code, then compile them (translate what is new)
	.venv/bin/python manage.py makemessages -l pt -l fr -l es --ignore 'var/*' --ignore 'bench/*' \
	  --ignore 'tests/*' --ignore 'test-artifacts/*' --ignore 'static/vendor/*'
	.venv/bin/python manage.py compilemessages -l pt -l fr -l es
