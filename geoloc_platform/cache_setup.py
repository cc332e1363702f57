"""The database cache's table: made by ``migrate``, and a clear message when it is missing anyway.

Without Redis the platform keeps rate limits, login lockouts and debouncing in a database cache table. Django makes
that table only with ``createcachetable``, so a deployment that ran ``migrate`` alone failed every API call with
a 503 "database unavailable", which sent people looking at a healthy database.
"""

from django.conf import settings
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, DatabaseError

SETUP_COMMAND = "python manage.py migrate"


def cache_tables_create(*, using: str = DEFAULT_DB_ALIAS, **kwargs) -> None:
    """Receiver of ``post_migrate``: make every database cache table that does not exist yet (idempotent)."""
    call_command("createcachetable", database=using, verbosity=0)


def database_cache_tables() -> list[str]:
    return [
        str(cache["LOCATION"])
        for cache in settings.CACHES.values()
        if cache["BACKEND"] == "django.core.cache.backends.db.DatabaseCache"
    ]


def missing_cache_table(error: BaseException | None) -> str | None:
    """The database cache table that ``error`` says does not exist (SQLite: "no such table: x"; PostgreSQL:
    'relation "x" does not exist'), or None for any other error."""
    if not isinstance(error, DatabaseError):
        return None
    message = str(error)
    for table in database_cache_tables():
        if f"no such table: {table}" in message or f'relation "{table}" does not exist' in message:
            return table
    return None


def cache_table_missing_body(table: str) -> dict:
    return {
        "code": "cache_table_missing",
        "detail": f"Setup is incomplete: the cache table {table!r} does not exist. Run `{SETUP_COMMAND}` "
        "(it makes the table), or `python manage.py createcachetable`.",
    }
