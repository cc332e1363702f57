"""CPU per crowd request in the web process: python bench/bench_crowd_cpu.py [--requests 300] [--profile next].

The soak (bench_soak.py) measures latency under 200 volunteers; this measures what the latency is made of: the
CPU seconds one Django process spends per next-task, answer and heartbeat request through the whole middleware
stack (sessions, CSRF, authentication, throttles, the view, the JSON), with ``time.process_time``. The database
server's own CPU is not in it (the queries themselves take 0.1-0.3 ms there).

It runs against ``DATABASE_URL`` (default: the PostgreSQL database ``geoloc_bench_cpu``, created and migrated
here) and ``REDIS_URL`` for the cache, as the soak does; the crisis and volunteers it makes are deleted at the
end. ``--profile next|answer`` prints the functions that take the CPU (cProfile). Printed beside two baselines: a
request the same stack answers with 404 after authentication (the floor every API request pays: a heartbeat on an
unknown lease, which runs the lease's locking read), and an answer refused as bad input by its serializer (400 after
authentication and the throttle, no query of the crowd's own: the same code before and after a change to them).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def setup_django(database_url: str, redis_url: str, broker_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["REDIS_URL"] = redis_url
    os.environ["CELERY_BROKER_URL"] = broker_url  # an answer sends its consensus task, as in production
    # One process plays every volunteer: limits it cannot reach (the throttles still run and are measured).
    for name in ("CROWD_RATE_NEXT", "CROWD_RATE_ANSWER", "CROWD_RATE_HEARTBEAT", "API_RATE_USER"):
        os.environ[name] = "1000000/min"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geoloc_platform.settings")
    os.environ.setdefault("VAR_DIR", str(ROOT / "var" / "bench_cpu"))
    import django

    django.setup()


def ensure_database(database_url: str) -> None:
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    admin = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')


class World:
    """A launched crisis with queued images and logged-in volunteers (deleted by ``close``)."""

    def __init__(self, *, images: int, volunteers: int):
        from django.contrib.auth.models import User
        from django.test import Client

        from crawling.models import Media, Post
        from geoloc_platform.crises.models import Crisis
        from geoloc_platform.crises.services import crisis_create, crisis_transition
        from tasks_app import services

        token = str(int(time.time()))
        crisis = crisis_create(
            created_by=None,
            name=f"CPU bench {token}",
            slug=f"bench-cpu-{token}",
            hazard=Crisis.Hazard.FLOOD,
            affected_area={
                "type": "Polygon",
                "coordinates": [[[-51.3, -30.2], [-51.0, -30.2], [-51.0, -29.9], [-51.3, -29.9], [-51.3, -30.2]]],
            },
        )
        self.crisis = crisis_transition(crisis=crisis, action="launch", user=None)
        posts = Post.objects.bulk_create(
            Post(
                crisis=self.crisis,
                source=Post.Source.DEMO,
                source_id=f"cpu-{n}",
                text=f"Flooded street {n}",
                geo_lat=-30.03,
                geo_lon=-51.2,
                geo_accuracy_m=2000,
            )
            for n in range(images)
        )
        media = Media.objects.bulk_create(
            Media(crisis=self.crisis, post=post, stage=Media.Stage.QUEUED) for post in posts
        )
        for n, item in enumerate(media):
            item.crisis = self.crisis
            services.crowd_tasks_create_for_media(media=item, predicted_ease=(n % 10) / 10, kinds=("geolocation",))
        self.users = []
        self.volunteers = []
        for n in range(volunteers):
            user = User.objects.create_user(username=f"bench-cpu-{token}-{n}", password=None)
            client = Client(enforce_csrf_checks=True, HTTP_HOST="127.0.0.1")
            client.force_login(user)
            client.get("/accounts/login/")  # the csrftoken cookie, as the pages set it
            client.defaults["HTTP_X_CSRFTOKEN"] = client.cookies["csrftoken"].value
            self.users.append(user)
            self.volunteers.append(Volunteer(client))

    def close(self) -> None:
        from django.contrib.auth.models import User

        from geoloc_platform.crises.models import Crisis

        Crisis.objects.filter(pk=self.crisis.pk).delete()
        User.objects.filter(pk__in=[u.pk for u in self.users]).delete()


class Volunteer:
    """One volunteer's cookies, replayed on WSGI environs: the application is called as gunicorn calls it."""

    def __init__(self, client):
        self.cookie = "; ".join(f"{name}={morsel.value}" for name, morsel in client.cookies.items())
        self.csrf = client.cookies["csrftoken"].value

    def environ(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body or {}).encode()
        return {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "HTTP_HOST": "127.0.0.1",
            "REMOTE_ADDR": "127.0.0.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(data)),
            "HTTP_COOKIE": self.cookie,
            "HTTP_X_CSRFTOKEN": self.csrf,
            "HTTP_ACCEPT": "application/json",
            "wsgi.input": io.BytesIO(data),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            "wsgi.version": (1, 0),
        }


def call(app, environ: dict) -> tuple[int, bytes]:
    status = []
    chunks = app(environ, lambda code, headers, exc_info=None: status.append(int(code.split()[0])))
    body = b"".join(chunks)
    if hasattr(chunks, "close"):
        chunks.close()  # request_finished: connections back, as under gunicorn
    return status[0], body


def timed(samples: dict, name: str, app, environ: dict, profiler: cProfile.Profile | None) -> tuple[int, bytes]:
    if profiler is not None:
        profiler.enable()
    started = time.process_time()
    status, body = call(app, environ)
    samples.setdefault(name, []).append((time.process_time() - started) * 1000)
    if profiler is not None:
        profiler.disable()
    return status, body


def run(world: World, *, requests: int, profile: str | None) -> dict[str, list[float]]:
    from django.core.wsgi import get_wsgi_application

    app = get_wsgi_application()
    samples: dict[str, list[float]] = {}
    profiler = cProfile.Profile(time.process_time) if profile else None
    slug = world.crisis.slug
    done = 0
    while done < requests:
        for volunteer in world.volunteers:
            environ = volunteer.environ("POST", f"/api/crises/{slug}/tasks/next/", {"kind": "geolocation"})
            status, body = timed(samples, "next", app, environ, profiler if profile == "next" else None)
            if status != 200:
                continue
            lease_id = json.loads(body)["lease_id"]
            timed(samples, "heartbeat", app, volunteer.environ("POST", f"/api/leases/{lease_id}/heartbeat/"), None)
            answer = {
                "lease_id": lease_id,
                "kind": "geolocation",
                "lat": -30.03,
                "lon": -51.2,
                "precision": "high",
                "clue_tags": ["sign_text"],
                "time_on_task_s": 40,
                "interaction": {"map_moved": True, "map_zoomed": True},
            }
            environ = volunteer.environ("POST", "/api/answers/", answer)
            status, body = timed(samples, "answer", app, environ, profiler if profile == "answer" else None)
            assert status == 201, body
            timed(samples, "floor", app, volunteer.environ("POST", "/api/leases/999999999/heartbeat/"), None)
            # A second baseline that runs none of the crowd's queries: bad input refused by the answer's serializer.
            bad = volunteer.environ("POST", "/api/answers/", {"lease_id": lease_id, "kind": "nonsense"})
            status, body = timed(samples, "bad_input", app, bad, None)
            assert status == 400, body
            done += 1
    if profiler is not None:
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(25)
        # The platform's own functions and the request stack's main parts, by cumulative CPU.
        ours = r"/(tasks_app|consensus|mapping|classification|crawling|geoloc_platform)/|throttling|authentication|"
        stats.sort_stats("cumulative").print_stats(
            ours + r"sessions/backends|csrf|renderers|signing|kombu/messaging", 50
        )
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/geoloc_bench_cpu")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9", help="cache: sessions, throttles")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/8", help="purged at the end (no worker)")
    parser.add_argument("--requests", type=int, default=300, help="next-task + answer pairs measured")
    parser.add_argument("--volunteers", type=int, default=20)
    parser.add_argument("--profile", choices=["next", "answer"], help="print where the CPU of one endpoint goes")
    options = parser.parse_args()
    ensure_database(options.database_url)
    setup_django(options.database_url, options.redis_url, options.broker_url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import logging

    logging.disable(logging.WARNING)  # one log line per answer task would be measured too
    world = World(images=options.requests + 50, volunteers=options.volunteers)
    try:
        run(world, requests=20, profile=None)  # warm: imports, caches, connections
        samples = run(world, requests=options.requests, profile=options.profile)
    finally:
        world.close()
        from geoloc_platform.celery import app

        app.control.purge()  # the consensus tasks the answers sent: no worker runs in this benchmark
    floor = statistics.median(samples["floor"])
    print(f"CPU ms per request in the web process ({options.requests} of each; median, p95; x the 404 floor):")
    bad_input = statistics.median(samples["bad_input"])
    for name in ("next", "answer", "heartbeat", "floor", "bad_input"):
        values = sorted(samples[name])
        p95 = values[int(0.95 * (len(values) - 1))]
        median = statistics.median(values)
        print(
            f"  {name:9} median {median:6.2f}  p95 {p95:6.2f}  x floor {median / floor:5.2f}"
            f"  x bad input {median / bad_input:5.2f}"
        )


if __name__ == "__main__":
    main()
