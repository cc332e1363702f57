"""The database cache's table: ``migrate`` makes it, and a deployment without it is told what to run."""

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client

from geoloc_platform.crises.models import Crisis
from tests.tasks_app.conftest import queue

pytestmark = pytest.mark.django_db

DATABASE_CACHE = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "cache_table"}}


@pytest.fixture
def database_cache(settings):
    settings.CACHES = DATABASE_CACHE  # as on the embedded default, whether or not REDIS_URL is set for this run


@pytest.fixture
def without_cache_table(database_cache):
    """The table dropped inside a savepoint: PostgreSQL aborts a transaction after a failed query, and rolling
    back to the savepoint restores both the table and a usable connection for the test's teardown."""
    savepoint = transaction.savepoint()
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS cache_table")  # absent where the run uses Redis
    yield
    transaction.savepoint_rollback(savepoint)


def test_migrate_makes_the_database_cache_table(without_cache_table):
    assert "cache_table" not in connection.introspection.table_names()
    call_command("migrate", verbosity=0)
    assert "cache_table" in connection.introspection.table_names()


def test_an_api_call_without_the_cache_table_says_what_to_run_not_that_the_database_is_down(without_cache_table):
    response = Client(raise_request_exception=False).get("/api/map/features/")  # the throttle reads the cache
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "cache_table_missing"
    assert "python manage.py migrate" in body["detail"]
    assert "Retry-After" not in response


def test_a_page_without_the_cache_table_says_what_to_run(people, database_cache):
    crisis = people["crisis"]
    Crisis.objects.filter(pk=crisis.pk).update(status=Crisis.Status.ACTIVE, allow_anonymous=True)
    queue(crisis, eases=(0.9,))
    savepoint = transaction.savepoint()
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS cache_table")  # absent where the run uses Redis
    response = Client(raise_request_exception=False).get(f"/crises/{crisis.slug}/rate/")  # guest limit: the cache
    transaction.savepoint_rollback(savepoint)
    assert response.status_code == 500
    html = response.content.decode()
    assert "Setup is incomplete" in html and "python manage.py migrate" in html
