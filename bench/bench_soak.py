"""A load soak of the whole stack: python bench/bench_soak.py [--duration 600 --volunteers 200 | --quick].

200 simulated volunteers work for 10 minutes against gunicorn + PostgreSQL while Celery workers crawl a fake
Mastodon instance on loopback at the same time, so every stage of the pipeline runs beside the crowd:

- stack: gunicorn (gthread), a Celery ``cpu`` worker (2 processes), a ``gpu`` worker (1 process, CPU here) and
  beat, PostgreSQL database ``geoloc_soak`` (cloned for each run from ``geoloc_soak_template``, which this script
  builds once: migrations, the offline gazetteer, 20,000 queued images, the volunteers' accounts and an active
  tiny random-init difficulty model), Redis DBs 6 (broker) and 7 (cache, throttles);
- crawl: a fake Mastodon hashtag timeline (real HTTP, ``Link`` paging, posts arriving while the run goes on)
  with generated flood photos, a few exact duplicates and banners; beat crawls it every 30 s and the workers
  fetch, dedup, filter, geolocate by text, score difficulty and queue the images;
- volunteers: real accounts logging in through the login form (session + CSRF), each looping next task ->
  think -> answer (rating 5-20 s or geolocation 15-45 s, times ``--think-scale``), a heartbeat every 15 s
  while thinking (the page's 60 s at the same scale as the think times: real geolocation takes minutes),
  a place search on some geolocation tasks, 4% skips (a tenth of them with a report). Images are not
  downloaded by the volunteers (a deployment serves them from a proxy, not from Django).

Printed and saved (``bench/results/soak_*.json``): requests and errors by endpoint and kind, latency p50/p95/p99
of next-task, answer, heartbeat, skip and place search in the measured window beside two baselines (the same
endpoints for a lone volunteer before the workers and the crowd start; a static file through gunicorn and
WSGI, the request floor, under the same load), throughput, the resident memory of every process at the start
and end of the window, answers acknowledged (201) against answers stored, crawl progress per stage, and the
machine's load (2 shared cores: the load of other jobs is in the figures).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from http.cookies import SimpleCookie
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.conftest import process_stop  # noqa: E402 - after the path is set

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/geoloc_soak"
DEFAULT_BROKER = "redis://127.0.0.1:6379/6"
DEFAULT_CACHE = "redis://127.0.0.1:6379/7"
WORK_DIR = ROOT / "var" / "bench_soak"
TEMPLATE_VERSION = 1  # bump when the template's contents change
SLUG = "bench-soak"
HASHTAG = "SoakFloods"
PASSWORD = "soak-volunteer-password-42"  # noqa: S105 - a bench account on loopback, not a secret
PROBE = "soak-probe"
AREA = {"west": -51.70, "east": -50.90, "south": -30.20, "north": -29.60}
TOWNS = [  # (name, lat, lon): places of the area the gazetteer knows
    ("Porto Alegre", -30.0346, -51.2177),
    ("Canoas", -29.9177, -51.1839),
    ("São Leopoldo", -29.7604, -51.1472),
    ("Novo Hamburgo", -29.6783, -51.1309),
    ("Guaíba", -30.1086, -51.3233),
    ("Gravataí", -29.9443, -50.9919),
    ("Esteio", -29.8617, -51.1794),
    ("Sapucaia do Sul", -29.8276, -51.1450),
    ("Alvorada", -30.0014, -51.0806),
    ("Eldorado do Sul", -30.0847, -51.6187),
]
STREETS = ["Rua dos Andradas", "Avenida Farrapos", "Rua Voluntários da Pátria", "Avenida Guilherme Schell"]
STREETS += ["Rua Sete de Setembro", "Avenida Brasil", "Rua da Praia", "Avenida Mauá"]
RATING_THINK_S = (5.0, 20.0)
GEOLOCATION_THINK_S = (15.0, 45.0)
SKIP_SHARE = 0.04
PLACE_SEARCH_SHARE = 0.3
EXPECTED = {"login": {302}, "next": {200, 204}, "answer": {201}, "heartbeat": {200}, "skip": {200}}
EXPECTED |= {"places": {200}, "floor": {200}, "login_page": {200}}
FLOOR_PATH = "/static/tasks_app/crowd.css"  # whitenoise: through gunicorn and WSGI, no view, no database


# --- Fake Mastodon instance (its own process: drawing photos must not steal the volunteers' GIL) ---------------


class FakeTimeline:
    """A hashtag timeline of ``backlog`` posts, growing by ``posts_per_s``; ids count up from 1 (newest highest)."""

    def __init__(self, *, backlog: int, posts_per_s: float, base_url: str):
        self.backlog, self.posts_per_s, self.base_url = backlog, posts_per_s, base_url
        self.started = time.time()

    def top(self) -> int:
        return self.backlog + int((time.time() - self.started) * self.posts_per_s)

    def page(self, *, limit: int, max_id: str | None, since_id: str | None) -> tuple[list[dict], str | None]:
        """Statuses newest first below ``max_id`` and above ``since_id``; the next page's max_id, if any."""
        upper = min(self.top(), int(max_id) - 1) if max_id else self.top()
        lower = int(since_id) + 1 if since_id else 1
        ids = list(range(upper, max(lower, upper - limit + 1) - 1, -1))
        next_max_id = str(ids[-1]) if ids and ids[-1] > lower else None
        return [self.status(status_id) for status_id in ids], next_max_id

    def status(self, status_id: int) -> dict:
        from tests.crawling.payloads import mastodon_status

        rng = random.Random(status_id)
        town = rng.choice(TOWNS)[0]
        street = rng.choice(STREETS)
        posted = self.started - max(0, self.backlog - status_id) * 20 + max(0, status_id - self.backlog) / 1e9
        created_at = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(posted))
        status = mastodon_status(status_id, images=2 if status_id % 10 == 0 else 1, created_at=created_at)
        status["content"] = f"<p>{street} alagada em {town} #{HASHTAG}</p><p>foto {status_id}</p>"
        status["tags"] = [{"name": HASHTAG.lower(), "url": f"{self.base_url}/tags/{HASHTAG.lower()}"}]
        for position, attachment in enumerate(status["media_attachments"]):
            url = f"{self.base_url}/media?id={status_id}&n={position}"
            attachment.update(url=url, remote_url=url, preview_url=url, description=f"{street}, {town}")
            attachment["meta"] = {"original": {"width": 640, "height": 480, "size": "640x480", "aspect": 1.33}}
        return status


def photo_bytes(status_id: int, position: int) -> bytes:
    """A generated flood photo; every 25th post repeats the previous post's photo, every 40th is a banner."""
    from geoloc_platform.crises.demo import draw_banner, draw_scene
    from tests.crawling.fakes import encode

    if status_id % 40 == 0:
        return encode(draw_banner(text="SOS RIO GRANDE DO SUL"))
    seed = status_id - 1 if status_id % 25 == 0 else status_id
    sign = random.Random(seed).choice(STREETS).upper()
    return encode(draw_scene(seed=seed * 10 + position, sign=sign), quality=85)


def fake_mastodon_serve(*, port_file: Path, backlog: int, posts_per_s: float) -> None:
    from tests.crawling.fakes import FakeServer, Reply

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})  # for sigwait below
    server = FakeServer()
    timeline = FakeTimeline(backlog=backlog, posts_per_s=posts_per_s, base_url=server.url("").rstrip("/"))
    path = f"/api/v1/timelines/tag/{HASHTAG}"

    def timeline_reply(request) -> Reply:
        limit = min(40, int(request.arg("limit", "20")))
        statuses, next_max_id = timeline.page(
            limit=limit, max_id=request.arg("max_id"), since_id=request.arg("since_id")
        )
        headers = {}
        if next_max_id:
            headers["Link"] = f'<{server.url(path)}?limit={limit}&max_id={next_max_id}>; rel="next"'
        return Reply.json(statuses, headers=headers)

    def media_reply(request) -> Reply:
        return Reply.image(photo_bytes(int(request.arg("id", "1")), int(request.arg("n", "0"))))

    server.route(path, timeline_reply)
    server.route("/media", media_reply)
    server.requests = _Discard()  # the soak makes thousands of requests: keep none
    server.start()
    port_file.write_text(str(server.port))
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    server.stop()


class _Discard(list):
    def append(self, item) -> None:
        pass


# --- The databases: a template built once, cloned for every run -------------------------------------------------


def admin_connect(url: str):
    import psycopg

    return psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True)


def template_spec(*, images: int, volunteers: int) -> str:
    return f"bench_soak v{TEMPLATE_VERSION} images={images} volunteers={volunteers}"


def template_ensure(*, url: str, images: int, volunteers: int, rebuild: bool) -> None:
    """Build ``<db>_template`` unless it exists with this spec. Each step is idempotent: a failed build resumes."""
    template = url.rsplit("/", 1)[1] + "_template"
    spec = template_spec(images=images, volunteers=volunteers)
    with admin_connect(url) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (template,)
        ).fetchone()
        if row and row[0] == spec and not rebuild:
            return
        if row and rebuild:
            conn.execute(f'DROP DATABASE "{template}" WITH (FORCE)')
            row = None
        if row is None:
            conn.execute(f'CREATE DATABASE "{template}"')
    template_url = url.rsplit("/", 1)[0] + "/" + template
    print(f"building the template database {template} ({spec}); once, a few minutes", flush=True)
    env = stack_env(url=template_url, broker="", cache="")
    for command in (["migrate", "-v", "0"], ["createcachetable"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True)
    subprocess.run(
        [sys.executable, __file__, "--build-template", "--images", str(images), "--volunteers", str(volunteers)],
        cwd=ROOT,
        env=env,
        check=True,
    )
    with admin_connect(url) as conn:
        conn.execute(f"COMMENT ON DATABASE \"{template}\" IS '{spec}'")


def template_build(*, images: int, volunteers: int) -> None:
    """Inside the template database: gazetteer, crisis, queued images, accounts, an active tiny model."""
    django_setup()
    from django.core.management import call_command

    from classification.models import Place

    if not Place.objects.exists():
        call_command("build_gazetteer")
    crisis = crisis_ensure()
    model_version_ensure()
    images_seed(crisis=crisis, images=images)
    volunteers_ensure(count=volunteers)


def crisis_ensure():
    from geoloc_platform.crises import services as crisis_services
    from geoloc_platform.crises.models import Crisis

    crisis = Crisis.objects.filter(slug=SLUG).first()
    if crisis is None:
        west, east, south, north = AREA["west"], AREA["east"], AREA["south"], AREA["north"]
        crisis = crisis_services.crisis_create(
            created_by=None,
            name="Soak: Rio Grande do Sul floods",
            slug=SLUG,
            hazard=Crisis.Hazard.FLOOD,
            hashtags=[HASHTAG],
            keywords={"pt": ["enchente", "alagada"]},
            languages=["pt", "en"],
            country_codes=["BR"],
            affected_area={
                "type": "Polygon",
                "coordinates": [[[west, south], [east, south], [east, north], [west, north], [west, south]]],
            },
        )
    if crisis.status == Crisis.Status.DRAFT:
        crisis_services.crisis_transition(crisis=crisis, action="launch", user=None)
    return crisis


def model_version_ensure() -> None:
    """A global, active difficulty model: timm's tiny test EfficientNet with random weights (scores, fast)."""
    import torch

    from classification.models import ModelVersion
    from tests.integration.e2e_scenario import difficulty_model_register

    if not ModelVersion.objects.filter(is_active=True, crisis__isnull=True).exists():
        torch.manual_seed(7)
        difficulty_model_register(WORK_DIR / "models")


def images_seed(*, crisis, images: int) -> None:
    """Queue ``images`` generated images through ``media_queue_for_crowd``, with a predicted ease each."""
    from django.db import transaction
    from django.utils import timezone

    from crawling.models import Media, Post
    from tasks_app.services import media_queue_for_crowd

    rng = random.Random(11)
    have = Post.objects.filter(crisis=crisis, source=Post.Source.DEMO).count()
    now = timezone.now()
    for start in range(have, images, 1000):
        count = min(1000, images - start)
        with transaction.atomic():
            posts = Post.objects.bulk_create(
                Post(
                    crisis=crisis,
                    source=Post.Source.DEMO,
                    source_id=f"seed-{start + i}",
                    text=f"{rng.choice(STREETS)} alagada em {rng.choice(TOWNS)[0]} #{HASHTAG}",
                    language="pt",
                    posted_at=now,
                )
                for i in range(count)
            )
            media = Media.objects.bulk_create(
                Media(
                    crisis=crisis,
                    post=post,
                    stage=Media.Stage.FETCHED,
                    remote_url=f"https://images.example/soak/{post.source_id}.jpg",
                    width=640,
                    height=480,
                )
                for post in posts
            )
        for item in media:
            ease = rng.random()
            media_queue_for_crowd(
                media_id=item.pk,
                predicted_ease=ease,
                predicted_label="easy" if ease >= 0.5 else "difficult",
                relevance=rng.uniform(0.5, 1.0),
            )
        print(f"  queued {start + count}/{images} images", end="\r", flush=True)
    print()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def volunteers_ensure(*, count: int) -> None:
    from django.contrib.auth.models import User

    from geoloc_platform.accounts.services import volunteer_sign_up

    for username in [PROBE, *(volunteer_name(index) for index in range(count))]:
        if not User.objects.filter(username=username).exists():
            volunteer_sign_up(username=username, email=f"{username}@example.org", password=PASSWORD)


def volunteer_name(index: int) -> str:
    return f"soak-volunteer-{index:03d}"


def database_clone(url: str) -> None:
    """``geoloc_soak`` afresh from the template (a file copy: seconds), then any newer migrations."""
    name = url.rsplit("/", 1)[1]
    with admin_connect(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{name}_template"')
    env = stack_env(url=url, broker="", cache="")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)


def django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geoloc_platform.settings")
    import django

    django.setup()


# --- The stack ------------------------------------------------------------------------------------------------------


def stack_env(*, url: str, broker: str, cache: str, mastodon: str = "", media_root: Path | None = None) -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "geoloc_platform.settings",
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": broker,
        "REDIS_URL": cache,
        "MEDIA_ROOT": str(media_root or WORK_DIR / "media"),
        "GEOLOC_GAZETTEER_CACHE_DIR": str(WORK_DIR / "gazetteer"),
        "DIFFICULTY_MODEL_DIR": str(WORK_DIR / "models"),
        "DIFFICULTY_DEVICE": "cpu",
        "DIFFICULTY_QUEUE": "gpu",
        "ALLOW_LOOPBACK_FETCH": "true",
        "MASTODON_INSTANCES": mastodon,
        "BLUESKY_IDENTIFIER": "",
        "X_BEARER_TOKEN": "",
        "FLICKR_API_KEY": "",
        "CRAWL_INTERVAL_SECONDS": "30",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_start(command: list[str], *, env: dict, log: Path) -> subprocess.Popen:
    with log.open("w") as handle:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )


def gunicorn_start(*, env: dict, port: int, workers: int, threads: int, worker_class: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "gunicorn", "geoloc_platform.wsgi:application", "-b", f"127.0.0.1:{port}"]
    command += ["-w", str(workers), "--worker-class", worker_class, "--log-level", "warning", "--preload"]
    # Keep-alive longer than any volunteer's pause between requests (a heartbeat every 15 s at most), like a
    # proxy in front would; the default 2 s would close every idle volunteer's connection.
    command += ["--keep-alive", "75", "--timeout", "120"]
    if worker_class == "gthread":
        command += ["--threads", str(threads)]
    server = process_start(command, env=env, log=WORK_DIR / "logs" / "gunicorn.log")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            status, _body, _headers = http_call(port, "GET", FLOOR_PATH)
            if status == 200:
                return server
        except OSError:
            time.sleep(0.5)
    process_stop(server)
    raise RuntimeError("gunicorn did not start: see var/bench_soak/logs/gunicorn.log")


def celery_start(*, env: dict, role: str, queues: str = "", concurrency: int = 1) -> subprocess.Popen:
    command = [sys.executable, "-m", "celery", "-A", "geoloc_platform"]
    log = WORK_DIR / "logs" / f"celery-{role}.log"
    if role == "beat":
        command += ["beat", "-l", "info", "-s", str(WORK_DIR / "beat-schedule"), "--pidfile="]
    else:
        command += ["worker", "-Q", queues, "-c", str(concurrency), "-l", "info", "-n", f"soak-{role}@%h"]
        command += ["--without-heartbeat", "--without-gossip", "--without-mingle"]
    return process_start(command, env=env, log=log)


def celery_wait_ready(role: str, timeout: float = 180) -> None:
    log = WORK_DIR / "logs" / f"celery-{role}.log"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "ready." in log.read_text(errors="replace"):
            return
        time.sleep(0.5)
    raise RuntimeError(f"celery {role} worker not ready: see {log}")


# --- Processes' memory and CPU, from /proc -------------------------------------------------------------------------


def proc_children(pid: int) -> list[int]:
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                children.append(int(entry))
    return sorted(children)


def proc_sample(pid: int) -> dict | None:
    """RSS and private memory (MB) and CPU seconds of one process; None when it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None

    def kb(text: str, key: str) -> int:
        for line in text.splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        return 0

    ticks = os.sysconf("SC_CLK_TCK")
    return {
        "rss_mb": kb(status, "VmRSS") / 1024,
        "private_mb": (kb(rollup, "Private_Clean") + kb(rollup, "Private_Dirty")) / 1024,
        "cpu_s": (int(fields[11]) + int(fields[12])) / ticks,
    }


def machine_sample() -> dict:
    load1, load5, load15 = (float(v) for v in Path("/proc/loadavg").read_text().split()[:3])
    cpu = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = cpu[3] + cpu[4]
    return {"load1": load1, "load5": load5, "load15": load15, "cpu_total": sum(cpu), "cpu_idle": idle}


class Monitor:
    """Samples every process of the stack (and its children) and the machine, every ``interval`` seconds."""

    def __init__(self, roots: dict[str, subprocess.Popen], interval: float):
        self.roots, self.interval = roots, interval
        self.samples: list[dict] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def processes(self) -> dict[str, int]:
        named = {}
        for role, process in self.roots.items():
            named[role] = process.pid
            for index, child in enumerate(proc_children(process.pid), start=1):
                named[f"{role} child {index}"] = child
        return named

    def sample(self) -> dict:
        processes = {}
        for name, pid in self.processes().items():
            values = proc_sample(pid)
            if values is not None:
                processes[name] = {"pid": pid, **values}
        bench = proc_sample(os.getpid())
        return {"t": time.time(), "machine": machine_sample(), "processes": processes, "bench_client": bench}

    def _run(self) -> None:
        while not self.stop.is_set():
            self.samples.append(self.sample())
            self.stop.wait(self.interval)

    def start(self) -> None:
        self.thread.start()


# --- Volunteers ----------------------------------------------------------------------------------------------------


def http_call(port: int, method: str, path: str, body=None, headers=None, conn=None, timeout=60.0):
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return response.status, data, response.headers
    finally:
        if own:
            conn.close()


class Recorder:
    """Every request: (monotonic end time, endpoint, milliseconds, outcome). Outcome: HTTP status or an error."""

    def __init__(self):
        self.lock = threading.Lock()
        self.rows: list[tuple[float, str, float, str]] = []
        self.answer_ids: list[int] = []
        self.reconnects = 0

    def add(self, endpoint: str, ms: float, outcome: str) -> None:
        with self.lock:
            self.rows.append((time.monotonic(), endpoint, ms, outcome))


class Client:
    """One browser: a kept-alive connection and its cookies (session, CSRF)."""

    def __init__(self, port: int, recorder: Recorder):
        self.port, self.recorder = port, recorder
        self.cookies: dict[str, str] = {}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, endpoint: str, method: str, path: str, payload=None, form: dict | None = None):
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif payload is not None or method == "POST":
            body = json.dumps(payload or {})
            headers["Content-Type"] = "application/json"
        if method == "POST" and "csrftoken" in self.cookies:
            headers["X-CSRFToken"] = self.cookies["csrftoken"]
        began = time.perf_counter()
        try:
            status, data, response_headers = self._send(method, path, body, headers)
        except (OSError, http.client.HTTPException) as error:
            self.recorder.add(endpoint, (time.perf_counter() - began) * 1000, f"error:{type(error).__name__}")
            self.reconnect()
            return None, b""
        self.recorder.add(endpoint, (time.perf_counter() - began) * 1000, str(status))
        for header in response_headers.get_all("Set-Cookie") or []:
            cookie = SimpleCookie(header)
            for name, morsel in cookie.items():
                self.cookies[name] = morsel.value
        return status, data

    def _send(self, method, path, body, headers):
        try:
            self.conn.request(method, path, body=body, headers=headers)
        except (BrokenPipeError, ConnectionResetError):
            # The request never left: the server had closed the idle connection. A browser resends it too.
            with self.recorder.lock:
                self.recorder.reconnects += 1
            self.reconnect()
            self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        return response.status, response.read(), response.headers

    def reconnect(self) -> None:
        self.conn.close()
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def login(self, username: str) -> bool:
        self.call("login_page", "GET", "/accounts/login/")
        status, _ = self.call(
            "login",
            "POST",
            "/accounts/login/",
            form={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": self.cookies.get("csrftoken", "")},
        )
        return status == 302 and "sessionid" in self.cookies


def true_location(task_id: int, guess: dict | None) -> tuple[float, float]:
    """Where the photo really is (the same for every volunteer of the task): near the text guess, else the area."""
    rng = random.Random(task_id)
    if guess:
        return guess["lat"] + rng.uniform(-0.01, 0.01), guess["lon"] + rng.uniform(-0.01, 0.01)
    return rng.uniform(AREA["south"], AREA["north"]), rng.uniform(AREA["west"], AREA["east"])


def answer_for(lease: dict, rng: random.Random, think_s: float) -> dict:
    answer = {"lease_id": lease["lease_id"], "kind": lease["kind"], "time_on_task_s": round(think_s, 1)}
    if lease["kind"] == "rating":
        answer["difficulty"] = rng.choices(
            ["easy", "medium", "difficult", "impossible", "not_relevant"], weights=[40, 25, 20, 10, 5]
        )[0]
        return answer
    if lease["kind"] == "review":
        answer["verdict"] = "accept"
        return answer
    precision = rng.choices(["high", "medium", "low", "cannot"], weights=[45, 30, 15, 10])[0]
    answer["precision"] = precision
    if precision != "cannot":
        lat, lon = true_location(lease["task_id"], lease.get("text_guess"))
        spread = {"high": 0.0004, "medium": 0.003, "low": 0.03}[precision]
        answer["lat"] = min(90, max(-90, lat + rng.gauss(0, spread)))
        answer["lon"] = min(180, max(-180, lon + rng.gauss(0, spread)))
        answer["clue_tags"] = rng.sample(["sign_text", "landmark", "terrain", "shop_name", "post_text"], k=2)
    return answer


def volunteer_work(
    client: Client, *, kind: str, rng: random.Random, stop: threading.Event, think_scale: float, heartbeat_s: float
) -> None:
    """Next task -> think (heartbeats) -> answer or skip, until ``stop``."""
    next_path = f"/api/crises/{SLUG}/tasks/next/"
    low, high = RATING_THINK_S if kind == "rating" else GEOLOCATION_THINK_S
    while not stop.is_set():
        status, body = client.call("next", "POST", next_path, {"kind": kind})
        if status != 200:
            stop.wait(5 if status == 204 else 2)  # nothing left, or an error (recorded): a person would wait
            continue
        lease = json.loads(body)
        think_s = rng.uniform(low, high) * think_scale
        if kind == "geolocation" and rng.random() < PLACE_SEARCH_SHARE:
            town = rng.choice(TOWNS)[0]
            client.call("places", "GET", f"/api/crises/{SLUG}/places/?q={urllib.parse.quote(town[:5])}")
        thought = 0.0
        while thought < think_s and not stop.is_set():
            step = min(heartbeat_s, think_s - thought)
            if stop.wait(step):
                break
            thought += step
            if thought < think_s:
                client.call("heartbeat", "POST", f"/api/leases/{lease['lease_id']}/heartbeat/")
        if stop.is_set():
            return  # the volunteer closes the page: the lease runs out, as a real one would
        if rng.random() < SKIP_SHARE:
            reason = {"report_reason": "not_this_crisis"} if rng.random() < 0.1 else {}
            client.call("skip", "POST", f"/api/leases/{lease['lease_id']}/skip/", reason)
            continue
        status, body = client.call("answer", "POST", "/api/answers/", answer_for(lease, rng, think_s))
        if status == 201:
            with client.recorder.lock:
                client.recorder.answer_ids.append(json.loads(body)["id"])


def volunteer_run(index: int, *, port, recorder, stop, ready, kind, think_scale, heartbeat_s, logged_in) -> None:
    client = Client(port, recorder)
    if not client.login(volunteer_name(index)):
        logged_in.append(False)
        return
    logged_in.append(True)
    ready.wait()
    rng = random.Random(index)
    stop.wait(rng.uniform(0, (RATING_THINK_S[1] if kind == "rating" else GEOLOCATION_THINK_S[1]) * think_scale))
    volunteer_work(client, kind=kind, rng=rng, stop=stop, think_scale=think_scale, heartbeat_s=heartbeat_s)


def baseline_measure(port: int, recorder: Recorder, rounds: int) -> None:
    """A lone volunteer, no workers, no crowd: each endpoint's latency when the stack is idle."""
    client = Client(port, Recorder())  # warm each worker's lazy imports (place names), unrecorded
    if not client.login(PROBE):
        raise RuntimeError("the probe volunteer could not log in")
    for _ in range(4):
        client.call("places", "GET", f"/api/crises/{SLUG}/places/?q=Porto")
    client.recorder = recorder
    rng = random.Random(0)
    for round_index in range(rounds):
        for kind in ("rating", "geolocation"):
            status, body = client.call("next", "POST", f"/api/crises/{SLUG}/tasks/next/", {"kind": kind})
            if status != 200:
                continue
            lease = json.loads(body)
            if kind == "geolocation":  # one heartbeat per round keeps the probe under the 30/min heartbeat limit
                client.call("heartbeat", "POST", f"/api/leases/{lease['lease_id']}/heartbeat/")
                client.call("places", "GET", f"/api/crises/{SLUG}/places/?q=Canoa")
            if round_index % 10 == 9:
                client.call("skip", "POST", f"/api/leases/{lease['lease_id']}/skip/", {})
                continue
            status, body = client.call("answer", "POST", "/api/answers/", answer_for(lease, rng, 1.0))
            if status == 201:
                recorder.answer_ids.append(json.loads(body)["id"])
        client.call("floor", "GET", FLOOR_PATH)


def floor_probe(port: int, recorder: Recorder, stop: threading.Event) -> None:
    """The request floor under load: a static file through gunicorn and WSGI, once a second."""
    client = Client(port, recorder)
    while not stop.wait(1.0):
        client.call("floor", "GET", FLOOR_PATH)


# --- Database figures ------------------------------------------------------------------------------------------------

MAIN_PATH = ["new", "fetched", "unique", "relevant", "text_geolocated", "difficulty_scored", "queued"]
MAIN_PATH += ["in_crowd_work", "consensus", "published"]
STAGE_RANK = {stage: rank for rank, stage in enumerate(MAIN_PATH)}
STAGE_RANK |= {"rejected": 0, "duplicate": 1, "irrelevant": 2}  # side exits: the stage they left from
STAGE_RANK |= {"consensus_reached": 8, "needs_review": 8, "cannot_geolocate": 8}


def crawl_progress(crisis_id: int) -> dict:
    import redis
    from django.conf import settings
    from django.db.models import Count

    from classification.models import DifficultyPrediction
    from crawling.models import CrawlState, Media, Post

    crawled = Media.objects.filter(crisis_id=crisis_id, post__source=Post.Source.MASTODON)
    stages = dict(crawled.values_list("stage").annotate(n=Count("pk")).order_by())
    reached = {stage: 0 for stage in MAIN_PATH}
    for stage, count in stages.items():
        for earlier in MAIN_PATH[: STAGE_RANK.get(stage, 0) + 1]:
            reached[earlier] += count
    state = CrawlState.objects.filter(crisis_id=crisis_id, source=Post.Source.MASTODON).first()
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    return {
        "t": time.time(),
        "posts": Post.objects.filter(crisis_id=crisis_id, source=Post.Source.MASTODON).count(),
        "images": sum(stages.values()),
        "stages": stages,
        "reached": reached,
        "scored": DifficultyPrediction.objects.filter(media__in=crawled, model_version__isnull=False).count(),
        "pages_fetched": state.pages_fetched if state else 0,
        # Messages waiting per queue: one FIFO per queue, so a backlog delays every stage behind it.
        "queue_cpu": broker.llen("cpu"),
        "queue_gpu": broker.llen("gpu"),
        "crawl_error": state.last_error if state else "",
    }


def answers_stored(crisis_id: int) -> list[int]:
    from tasks_app.models import Answer

    return list(Answer.objects.filter(crisis_id=crisis_id).values_list("pk", flat=True))


def pipeline_outcomes(crisis_id: int) -> dict:
    from django.db.models import Count

    from crawling.models import Media
    from tasks_app.models import CrowdTask

    return {
        "media_by_stage": dict(
            Media.objects.filter(crisis_id=crisis_id).values_list("stage").annotate(n=Count("pk")).order_by()
        ),
        "tasks_by_status": {
            f"{kind}/{status}": n
            for kind, status, n in CrowdTask.objects.filter(crisis_id=crisis_id)
            .values_list("kind", "status")
            .annotate(n=Count("pk"))
            .order_by()
        },
    }


# --- Figures -------------------------------------------------------------------------------------------------------


def percentiles(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(at(0.95), 1),
        "p99_ms": round(at(0.99), 1),
        "max_ms": round(ordered[-1], 1),
    }


def latency_table(rows, endpoints) -> dict:
    return {endpoint: percentiles([ms for _t, e, ms, _o in rows if e == endpoint]) for endpoint in endpoints}


def errors_of(rows) -> dict:
    errors: dict[str, int] = {}
    for _t, endpoint, _ms, outcome in rows:
        if not outcome.isdigit() or int(outcome) not in EXPECTED[endpoint]:
            key = f"{endpoint} {outcome}"
            errors[key] = errors.get(key, 0) + 1
    return errors


def memory_table(start: dict, end: dict, peak_of: dict) -> dict:
    table = {}
    for name, first in start["processes"].items():
        last = end["processes"].get(name)
        row = {"pid": first["pid"], "start_rss_mb": round(first["rss_mb"], 1)}
        row["start_private_mb"] = round(first["private_mb"], 1)
        if last is None or last["pid"] != first["pid"]:
            row["end"] = "gone (process ended or was replaced)"
        else:
            row["end_rss_mb"] = round(last["rss_mb"], 1)
            row["end_private_mb"] = round(last["private_mb"], 1)
            row["peak_rss_mb"] = round(peak_of.get(name, last["rss_mb"]), 1)
            row["rss_growth_pct"] = round(100 * (last["rss_mb"] - first["rss_mb"]) / first["rss_mb"], 1)
            row["cpu_s_in_window"] = round(last["cpu_s"] - first["cpu_s"], 1)
        table[name] = row
    return table


def report_print(result: dict) -> None:
    config, window = result["config"], result["window"]
    print()
    print(
        f"soak: {config['volunteers']} volunteers x {window['seconds']:.0f} s measured "
        f"(+{config['warmup_s']:.0f} s warm-up), think x{config['think_scale']}, gunicorn {config['gunicorn']}, "
        f"celery cpu x{config['cpu_concurrency']} + gpu x1 + beat, PostgreSQL + Redis on loopback"
    )
    print(f"{'endpoint':12}{'requests':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'idle p95':>10}{'p95/idle':>10}")
    for endpoint, stats in window["latency"].items():
        if not stats.get("n"):
            continue
        idle = result["baseline"]["latency"].get(endpoint, {})
        ratio = f"{stats['p95_ms'] / idle['p95_ms']:9.1f}x" if idle.get("n") and idle["p95_ms"] else f"{'-':>10}"
        idle_p95 = f"{idle['p95_ms']:10.1f}" if idle.get("n") else f"{'-':>10}"
        print(
            f"{endpoint:12}{stats['n']:9d}{stats['p50_ms']:9.1f}{stats['p95_ms']:9.1f}{stats['p99_ms']:9.1f}"
            f"{idle_p95}{ratio}"
        )
    ratios = result["ratios"]
    print(
        f"next-task p95 / floor p95 under the same load: {ratios.get('next_p95_over_floor_p95', '-')}x; "
        f"answer: {ratios.get('answer_p95_over_floor_p95', '-')}x"
    )
    print(
        f"throughput {window['throughput_rps']:.1f} requests/s, {window['answers_per_min']:.0f} answers/min; "
        f"reconnects after idle closes {window['reconnects']}"
    )
    errors = result["errors"]
    print(f"errors: {sum(errors.values())} {json.dumps(errors) if errors else ''}")
    answers = result["answers"]
    print(
        f"answers acknowledged (201) {answers['acknowledged']}, stored {answers['stored']}: "
        f"{'equal' if answers['equal'] else 'NOT EQUAL'}"
    )
    print(f"{'process':24}{'RSS start':>10}{'RSS end':>9}{'growth':>8}{'private':>14}{'CPU s':>8}")
    for name, row in result["memory"].items():
        if "end_rss_mb" not in row:
            print(f"{name:24}{row['start_rss_mb']:10.0f}  {row['end']}")
            continue
        private = f"{row['start_private_mb']:.0f}->{row['end_private_mb']:.0f}"
        print(
            f"{name:24}{row['start_rss_mb']:10.0f}{row['end_rss_mb']:9.0f}{row['rss_growth_pct']:7.1f}%"
            f"{private:>14}{row['cpu_s_in_window']:8.0f}"
        )
    crawl = result["crawl"]
    if crawl:
        print("crawl (images reaching each stage; posts):")
        for sample in [*crawl[:: max(1, len(crawl) // 10)], crawl[-1]]:
            reached = " ".join(f"{stage} {sample['reached'][stage]}" for stage in MAIN_PATH[:8])
            print(
                f"  +{sample['t'] - crawl[0]['t']:4.0f} s  posts {sample['posts']:5d}  {reached}  "
                f"(messages waiting: cpu {sample['queue_cpu']}, gpu {sample['queue_gpu']})"
            )
    stages = result["outcomes"]["media_by_stage"]
    crowd_stages = ("in_crowd_work", "consensus_reached", "needs_review", "cannot_geolocate", "published")
    print("crowd outcomes (all images): " + ", ".join(f"{stage} {stages.get(stage, 0)}" for stage in crowd_stages))
    machine = result["machine"]
    print(
        f"machine: {machine['cores']} cores, load average {machine['load1_min']:.1f}-{machine['load1_max']:.1f} "
        f"(mean {machine['load1_mean']:.1f}), CPU busy {machine['cpu_busy_pct']:.0f}% in the window"
    )


# --- The run ---------------------------------------------------------------------------------------------------------


def run(args) -> int:
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    broker = os.environ.get("BENCH_BROKER_URL", DEFAULT_BROKER)
    cache = os.environ.get("BENCH_CACHE_URL", DEFAULT_CACHE)
    if not url.startswith("postgres"):
        print("bench_soak needs PostgreSQL (BENCH_DATABASE_URL)", file=sys.stderr)
        return 2
    for folder in ("logs", "models", "gazetteer"):
        (WORK_DIR / folder).mkdir(parents=True, exist_ok=True)
    template_ensure(url=url, images=args.images, volunteers=args.template_volunteers, rebuild=args.rebuild_template)
    database_clone(url)
    media_root = WORK_DIR / "media"
    subprocess.run(["rm", "-rf", str(media_root)], check=True)
    import redis

    for redis_url in (broker, cache):
        redis.Redis.from_url(redis_url).flushdb()  # our own DB numbers: messages and throttles of an earlier run
    os.environ.update({"DATABASE_URL": url, "CELERY_BROKER_URL": broker, "REDIS_URL": cache})
    django_setup()
    from geoloc_platform.crises.models import Crisis

    crisis_id = Crisis.objects.get(slug=SLUG).pk

    port_file = WORK_DIR / "fake-mastodon.port"
    port_file.unlink(missing_ok=True)
    fake_command = [sys.executable, __file__, "--fake-mastodon", str(port_file), "--backlog", str(args.backlog)]
    fake_command += ["--posts-per-s", str(args.posts_per_s)]
    fake = process_start(
        fake_command,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        log=WORK_DIR / "logs" / "fake-mastodon.log",
    )
    processes: dict[str, subprocess.Popen] = {"fake mastodon": fake}
    stop = threading.Event()
    try:
        deadline = time.monotonic() + 30
        while not port_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        mastodon = f"http://127.0.0.1:{port_file.read_text().strip()}"
        env = stack_env(url=url, broker=broker, cache=cache, mastodon=mastodon, media_root=media_root)
        port = free_port()
        gunicorn_label = f"{args.worker_class} {args.workers}x{args.threads}"
        processes["gunicorn"] = gunicorn_start(
            env=env, port=port, workers=args.workers, threads=args.threads, worker_class=args.worker_class
        )
        recorder = Recorder()
        print(f"baseline: a lone volunteer, {args.baseline_rounds} rounds, nothing else running", flush=True)
        baseline_measure(port, recorder, args.baseline_rounds)
        baseline_rows = list(recorder.rows)
        recorder.rows.clear()

        processes["celery cpu"] = celery_start(env=env, role="cpu", queues="cpu", concurrency=args.cpu_concurrency)
        # One torch thread: this "gpu" worker runs on the CPU here, beside everything else on two cores.
        processes["celery gpu"] = celery_start(env={**env, "OMP_NUM_THREADS": "1"}, role="gpu", queues="gpu")
        processes["celery beat"] = celery_start(env=env, role="beat")
        celery_wait_ready("cpu")
        celery_wait_ready("gpu")
        from crawling.tasks import crawl_active_crises

        crawl_active_crises.delay()  # beat's first crawl would come one interval later
        monitored = {name: process for name, process in processes.items() if name != "fake mastodon"}
        monitor = Monitor(monitored, args.sample_s)
        monitor.start()

        print(f"{args.volunteers} volunteers log in (the login form, PBKDF2)", flush=True)
        ready, logged_in = threading.Event(), []
        threads = [
            threading.Thread(
                target=volunteer_run,
                args=(index,),
                kwargs={
                    "port": port,
                    "recorder": recorder,
                    "stop": stop,
                    "ready": ready,
                    "kind": "geolocation" if index % 2 else "rating",
                    "think_scale": args.think_scale,
                    "heartbeat_s": args.heartbeat_s,
                    "logged_in": logged_in,
                },
                daemon=True,
            )
            for index in range(args.volunteers)
        ]
        login_began = time.monotonic()
        for batch_start in range(0, len(threads), 8):  # eight at a time: people arrive, they do not stampede
            batch = threads[batch_start : batch_start + 8]
            for thread in batch:
                thread.start()
            while len(logged_in) < batch_start + len(batch):
                time.sleep(0.05)
        login_s = time.monotonic() - login_began
        print(f"  {sum(logged_in)}/{args.volunteers} logged in, {login_s:.0f} s", flush=True)
        ready.set()
        prober = threading.Thread(target=floor_probe, args=(port, recorder, stop), daemon=True)
        prober.start()

        warmup_end = time.monotonic() + args.warmup
        # Until crawled images reach the queue too: every worker process has then loaded its gazetteer and model,
        # so the window's memory figures start after the lazy loads.
        print(f"warm-up {args.warmup:.0f} s, and until 10 crawled images are queued (at most 240 s)", flush=True)
        while time.monotonic() < warmup_end or (
            crawl_progress(crisis_id)["reached"]["queued"] < 10 and time.monotonic() < warmup_end + 240
        ):
            time.sleep(2)
        window_start = time.monotonic()
        start_sample = monitor.sample()
        crawl_samples = [crawl_progress(crisis_id)]
        print(f"measuring {args.duration:.0f} s", flush=True)
        next_print = window_start + 60
        while time.monotonic() < window_start + args.duration:
            time.sleep(min(args.crawl_sample_s, max(0.1, window_start + args.duration - time.monotonic())))
            crawl_samples.append(crawl_progress(crisis_id))
            if time.monotonic() >= next_print:
                next_print += 60
                answered = sum(1 for _t, e, _m, o in recorder.rows if e == "answer" and o == "201")
                errors = sum(errors_of(recorder.rows).values())
                print(
                    f"  +{time.monotonic() - window_start:4.0f} s  answers {answered}  errors {errors}  "
                    f"crawled images {crawl_samples[-1]['images']}  queued {crawl_samples[-1]['reached']['queued']}  "
                    f"cpu queue {crawl_samples[-1]['queue_cpu']}  load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
        end_sample = monitor.sample()
        window_end = time.monotonic()
        stop.set()
        for thread in threads:
            thread.join(timeout=90)  # requests in flight finish; nobody starts another
        monitor.stop.set()
        stored = answers_stored(crisis_id)
        outcomes = pipeline_outcomes(crisis_id)
    finally:
        stop.set()
        for process in reversed(list(processes.values())):
            process_stop(process)

    window_rows = [row for row in recorder.rows if window_start <= row[0] <= window_end]
    endpoints = ["next", "answer", "heartbeat", "skip", "places", "floor"]
    peaks: dict[str, float] = {}
    window_samples = [s for s in monitor.samples if start_sample["t"] <= s["t"] <= end_sample["t"]]
    for sample in [start_sample, *window_samples, end_sample]:
        for name, values in sample["processes"].items():
            peaks[name] = max(peaks.get(name, 0.0), values["rss_mb"])
    loads = [s["machine"]["load1"] for s in [start_sample, *window_samples, end_sample]]
    busy = 1 - (end_sample["machine"]["cpu_idle"] - start_sample["machine"]["cpu_idle"]) / max(
        1, end_sample["machine"]["cpu_total"] - start_sample["machine"]["cpu_total"]
    )
    window_s = window_end - window_start
    latency = latency_table(window_rows, endpoints)
    acknowledged = sorted(set(recorder.answer_ids))
    result = {
        "config": {
            "volunteers": args.volunteers,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "think_scale": args.think_scale,
            "rating_think_s": [v * args.think_scale for v in RATING_THINK_S],
            "geolocation_think_s": [v * args.think_scale for v in GEOLOCATION_THINK_S],
            "heartbeat_s": args.heartbeat_s,
            "skip_share": SKIP_SHARE,
            "queued_images": args.images,
            "backlog_posts": args.backlog,
            "posts_per_s": args.posts_per_s,
            "gunicorn": gunicorn_label,
            "cpu_concurrency": args.cpu_concurrency,
            "difficulty_model": "tiny random-init test_efficientnet (active, global)",
        },
        "login": {
            "seconds": round(login_s, 1),
            "logged_in": sum(logged_in),
            **percentiles([ms for _t, e, ms, _o in recorder.rows if e == "login"]),
        },
        "baseline": {
            "what": "a lone volunteer before the workers and the crowd started",
            "latency": latency_table(baseline_rows, endpoints),
        },
        "window": {
            "seconds": round(window_s, 1),
            "requests": {e: sum(1 for row in window_rows if row[1] == e) for e in endpoints},
            "latency": latency,
            "throughput_rps": len(window_rows) / window_s,
            "answers_per_min": sum(1 for r in window_rows if r[1] == "answer" and r[3] == "201") / window_s * 60,
            "reconnects": recorder.reconnects,
        },
        "errors": errors_of(recorder.rows + baseline_rows),
        "answers": {
            "acknowledged": len(acknowledged),
            "stored": len(stored),
            "equal": acknowledged == sorted(stored),
            "acknowledged_not_stored": sorted(set(acknowledged) - set(stored))[:20],
            "stored_not_acknowledged": sorted(set(stored) - set(acknowledged))[:20],
        },
        "memory": memory_table(start_sample, end_sample, peaks),
        "memory_samples": [
            {"t": round(s["t"] - start_sample["t"], 1), **{n: round(v["rss_mb"], 1) for n, v in s["processes"].items()}}
            for s in monitor.samples
        ],
        "crawl": crawl_samples,
        "outcomes": outcomes,
        "machine": {
            "cores": os.cpu_count(),
            "load1_min": min(loads),
            "load1_max": max(loads),
            "load1_mean": statistics.fmean(loads),
            "cpu_busy_pct": 100 * busy,
            "our_cpu_s": round(
                sum(r.get("cpu_s_in_window", 0) for r in memory_table(start_sample, end_sample, peaks).values()), 1
            ),
        },
    }
    floor = latency.get("floor", {})
    result["ratios"] = {}
    for endpoint in ("next", "answer", "heartbeat"):
        if floor.get("n") and latency[endpoint].get("n") and floor["p95_ms"]:
            result["ratios"][f"{endpoint}_p95_over_floor_p95"] = round(latency[endpoint]["p95_ms"] / floor["p95_ms"], 1)
    report_print(result)
    name = f"soak_{args.volunteers}v_{int(args.duration)}s.json"
    out = Path(args.out) if args.out else ROOT / "bench" / "results" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str))
    print(f"figures saved to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    ok = not result["errors"] and result["answers"]["equal"]
    print(f"targets (0 errors, answers stored = acknowledged): {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--volunteers", type=int, default=200)
    parser.add_argument("--duration", type=float, default=600, help="measured seconds (after log-in and warm-up)")
    parser.add_argument("--warmup", type=float, default=60, help="seconds of work before the measured window")
    parser.add_argument("--quick", action="store_true", help="20 volunteers, 60 s (what make bench runs)")
    parser.add_argument("--full", action="store_true", help="the defaults: 200 volunteers, 600 s")
    parser.add_argument(
        "--think-scale", type=float, default=1.0, help="times the think times (rating 5-20 s, geolocation 15-45 s)"
    )
    parser.add_argument("--heartbeat-s", type=float, default=15.0, help="heartbeat period while thinking")
    parser.add_argument("--images", type=int, default=20_000, help="images queued up front (in the template)")
    parser.add_argument("--backlog", type=int, default=300, help="posts already on the fake timeline")
    parser.add_argument("--posts-per-s", type=float, default=0.5, help="new posts on the fake timeline per second")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (gthread)")
    parser.add_argument("--worker-class", default="gthread", choices=["gthread", "sync"])
    parser.add_argument("--cpu-concurrency", type=int, default=2, help="processes of the cpu Celery worker")
    parser.add_argument("--baseline-rounds", type=int, default=20)
    parser.add_argument("--sample-s", type=float, default=15.0, help="memory sampling period")
    parser.add_argument("--crawl-sample-s", type=float, default=15.0, help="crawl progress sampling period")
    parser.add_argument("--rebuild-template", action="store_true")
    parser.add_argument("--out", help="where to save the figures (default bench/results/soak_<V>v_<S>s.json)")
    parser.add_argument("--fake-mastodon", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--build-template", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fake_mastodon:
        fake_mastodon_serve(port_file=args.fake_mastodon, backlog=args.backlog, posts_per_s=args.posts_per_s)
        return 0
    template_volunteers = max(200, args.volunteers)
    if args.build_template:
        template_build(images=args.images, volunteers=args.volunteers)
        return 0
    if args.full:  # wins over --quick (make bench passes --quick, "python -m bench --full" adds --full)
        args.volunteers, args.duration, args.warmup = 200, 600, 60
    elif args.quick:
        args.volunteers, args.duration, args.warmup = 20, 60, 20
    args.template_volunteers = template_volunteers
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
