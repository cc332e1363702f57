"""Real servers for the fault tests: the platform under gunicorn, a Redis of the test's own, a fake Mastodon.

Each runs as in production on loopback, so a test can cut it (SIGKILL, a stopped Redis, a terminated database
backend) while work is in flight and watch what the platform makes of it.
"""

import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from crawling.models import Post
from tests.crawling.fakes import FakeServer, Reply, encode, picture
from tests.crawling.payloads import mastodon_status
from tests.integration.conftest import ROOT, _database_url, process_stop, wait_for

# Backends of the gunicorn server carry this name in pg_stat_activity, so a test terminates only theirs.
WEB_APPLICATION_NAME = "faults-web"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, timeout: float = 60.0) -> None:
    def accepts() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    wait_for(accepts, timeout=timeout)


# --- The platform under gunicorn ---------------------------------------------------------------------------------


class WebServer:
    """gunicorn (one gthread worker, ``threads`` threads) serving the platform against the test database.

    Celery runs in-process there (no broker), as on the embedded default: an answer's consensus runs inside its
    request, so a cut connection can land there too. Gold images and rate limits are off; the cache is the
    test's Redis (``REDIS_URL``) or, without one, none is needed by what the tests call.
    """

    def __init__(self, settings, log_path: Path, *, threads: int = 4):
        self.port = free_port()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "geoloc_platform.settings",
            "DATABASE_URL": f"{_database_url()}?application_name={WEB_APPLICATION_NAME}",
            "CELERY_BROKER_URL": "",
            "REDIS_URL": settings.REDIS_URL,
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "ALLOWED_HOSTS": "127.0.0.1",
            "DEBUG": "false",
            "CROWD_GOLD_RATE": "0",
            "CROWD_RATE_NEXT": "100000/min",
            "CROWD_RATE_ANSWER": "100000/min",
            "API_RATE_USER": "100000/min",
            "PYTHONUNBUFFERED": "1",
        }
        command = [sys.executable, "-m", "gunicorn", "geoloc_platform.wsgi:application", "-b", f"127.0.0.1:{self.port}"]
        command += ["-w", "1", "--worker-class", "gthread", "--threads", str(threads), "--timeout", "60"]
        self.log_path = log_path
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log_path.open("w"), stderr=subprocess.STDOUT, start_new_session=True
        )
        _wait_for_port(self.port)

    def stop(self) -> None:
        process_stop(self.process)


def database_connection() -> psycopg.Connection:
    """A connection to the test database of the test's own (not Django's): for locks and pg_terminate_backend."""
    return psycopg.connect(_database_url(), autocommit=True)


def volunteer_session(user) -> dict[str, str]:
    """Request headers of a logged-in browser session for ``user`` (session cookie, CSRF cookie and header)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    csrf = secrets.token_hex(16)  # a 32-character CSRF secret, as Django accepts in the cookie
    return {"Cookie": f"sessionid={session.session_key}; csrftoken={csrf}", "X-CSRFToken": csrf}


def http_call(
    port: int, path: str, *, headers: dict, body: dict | None = None, method: str = "POST"
) -> tuple[int, dict, object]:
    """One request; returns (status, headers, JSON body or text). Never raises on an HTTP error status."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=data,
        method=method,
        headers={**headers, **({"Content-Type": "application/json"} if data is not None else {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 (loopback, our own server)
            status, reply_headers, raw = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, reply_headers, raw = error.code, dict(error.headers), error.read()
    content_type = reply_headers.get("Content-Type", "")
    return status, reply_headers, json.loads(raw) if raw and "json" in content_type else raw.decode()


# --- A Redis of the test's own ------------------------------------------------------------------------------------


class RedisServer:
    """``redis-server`` on a free port without persistence: a restart loses every queued message, as it would."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            [*command, "--dir", str(self.workdir)],
            stdout=(self.workdir / "redis.log").open("a"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _wait_for_port(self.port, timeout=30)

    def stop(self) -> None:
        if self.process is not None:
            process_stop(self.process)
            self.process = None


# --- A fake Mastodon instance ------------------------------------------------------------------------------------


class FakeMastodon:
    """A hashtag timeline of statuses ``1..count``, newest first, ``per_page`` a page, paged by ``max_id`` in the
    Link header and cut by ``since_id``, each status with one picture served by the same server.

    ``hold_page_after(max_id)`` makes the page asked with that ``max_id`` wait until ``release()``: the test then
    knows a crawl is in the middle of that page (the request has arrived) and can kill what is crawling it.
    """

    TAG = "rsfloods"

    def __init__(self, *, count: int, per_page: int):
        self.count, self.per_page = count, per_page
        self.server = FakeServer()
        self.held_max_id: str | None = None
        self.held = threading.Event()  # set when the held page was asked for
        self.released = threading.Event()
        self.server.route(self.timeline_path, self._timeline)
        for status_id in range(1, count + 1):
            self.server.route(f"/img/{status_id}.jpg", Reply.image(encode(picture(seed=status_id))))

    @property
    def timeline_path(self) -> str:
        return f"/api/v1/timelines/tag/{self.TAG}"

    @property
    def instance_url(self) -> str:
        return self.server.url("").rstrip("/")

    def start(self) -> "FakeMastodon":
        self.server.start()
        return self

    def stop(self) -> None:
        self.release()
        self.server.stop()

    def hold_page_after(self, max_id: int) -> None:
        self.held_max_id = str(max_id)

    def release(self) -> None:
        self.released.set()

    def timeline_requests(self) -> list:
        return self.server.hits(self.timeline_path)

    def _timeline(self, request) -> Reply:
        max_id, since_id = request.arg("max_id"), request.arg("since_id")
        if max_id is not None and max_id == self.held_max_id and not self.released.is_set():
            self.held.set()
            self.released.wait(timeout=120)
        newest = int(max_id) - 1 if max_id else self.count
        oldest_wanted = int(since_id) + 1 if since_id else 1
        ids = list(range(newest, oldest_wanted - 1, -1))[: self.per_page]
        headers = {}
        if ids and ids[-1] > oldest_wanted:
            headers["Link"] = f'<{self.server.url(self.timeline_path)}?max_id={ids[-1]}>; rel="next"'
        return Reply.json([self._status(status_id) for status_id in ids], headers=headers)

    def _status(self, status_id: int) -> dict:
        status = mastodon_status(status_id, created_at=datetime.now(UTC).isoformat().replace("+00:00", "Z"))
        status["media_attachments"][0]["url"] = self.server.url(f"/img/{status_id}.jpg")
        return status

    @staticmethod
    def source_id(status_id: int) -> str:
        return mastodon_status(status_id)["uri"]


def stored_originals(settings, media) -> list[str]:
    """The original files stored for an image: one after a fetch, however often the fetch step ran."""
    folder = settings.MEDIA_ROOT / "originals"
    return sorted(p.name for p in folder.glob(f"{media.crisis_id}-{media.pk}-*")) if folder.exists() else []


def mastodon_posts(crisis) -> list[str]:
    return list(Post.objects.filter(crisis=crisis, source=Post.Source.MASTODON).values_list("source_id", flat=True))


def crawler_env(mastodon: FakeMastodon) -> dict[str, str]:
    """Settings of a worker or beat that crawls only the fake Mastodon and may fetch its images on loopback."""
    return {
        "MASTODON_INSTANCES": mastodon.instance_url,
        "BLUESKY_IDENTIFIER": "",
        "X_BEARER_TOKEN": "",
        "FLICKR_API_KEY": "",
        "ALLOW_LOOPBACK_FETCH": "true",
        "CRAWL_HTTP_TIMEOUT_SECONDS": "60",
    }
