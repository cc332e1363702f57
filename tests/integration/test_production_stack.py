"""The production stack on loopback, without Docker: gunicorn with DJANGO_ENV=production behind Debian's nginx,
started with the very configuration file docker-compose.yml mounts (deploy/nginx/default.conf.template, filled in
as the nginx image fills it in), on PostgreSQL + Redis.

Through nginx, over HTTPS with a throwaway self-signed certificate: a volunteer signs in with the login form and
their task image loads (bytes sent by nginx after Django's X-Accel-Redirect); a private crisis's image loads for
no outsider by any URL; X-Forwarded-For sent by a client does not change its rate-limit identity; plain HTTP
redirects to HTTPS, and the security headers hold on pages and on images.
"""

import hashlib
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import User
from django.core.cache import cache

from geoloc_platform.crises.models import Crisis, CrisisMembership
from mapping.services import volunteer_image_url
from tasks_app import services as task_services
from tests.conftest import PASSWORD, make_user
from tests.integration.conftest import ROOT, _database_url, process_stop, production_stack_required, wait_for
from tests.mapping.conftest import make_point
from tests.tasks_app.conftest import queue

pytestmark = pytest.mark.django_db(transaction=True)

TEMPLATE = ROOT / "deploy" / "nginx" / "default.conf.template"
NGINX = "/usr/sbin/nginx"
SECRET_KEY = "production-stack-test-key-" + "x" * 40
EXPORT_RATE = 3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def render_template(text: str, values: dict[str, str]) -> str:
    """What the nginx image does to a template (envsubst of the named variables only): ${NAME} becomes its value,
    nginx's own $variables stay. A ${GEOLOC_...} left unfilled is a mistake in the test or the file."""
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    unfilled = re.findall(r"\$\{GEOLOC_\w+\}", text)
    assert not unfilled, f"variables without a value: {unfilled}"
    return text


def compose_nginx_values() -> dict[str, str]:
    """The nginx service's variables in docker-compose.yml: the test overrides the addresses, not the names."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    service = compose["services"]["nginx"]
    mounted = [volume.split(":")[0] for volume in service["volumes"]]
    assert "./deploy/nginx/default.conf.template" in mounted, "docker-compose.yml must mount the tested file"
    return {name: str(value) for name, value in service["environment"].items() if name.startswith("GEOLOC_")}


@pytest.fixture(scope="session")
def collected_static(tmp_path_factory) -> Path:
    """collectstatic with the production storage (hashed, compressed names), once per set of static files."""
    from django.conf import settings

    production_stack_required(settings)  # before a minute of collectstatic that a skipped run would not use
    digest = hashlib.sha256((ROOT / "requirements.txt").read_bytes())
    for path in sorted((ROOT / "static").rglob("*")):
        if path.is_file():
            digest.update(f"{path.relative_to(ROOT)}:{path.stat().st_size}:{path.stat().st_mtime_ns}".encode())
    folder = Path(os.environ.get("VAR_DIR", ROOT / "var")) / "production_test" / f"static-{digest.hexdigest()[:16]}"
    if not (folder / "staticfiles.json").exists():
        env = {**os.environ, "DJANGO_ENV": "production", "SECRET_KEY": SECRET_KEY, "ALLOWED_HOSTS": "127.0.0.1"}
        command = [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"]
        subprocess.run(command, cwd=ROOT, env={**env, "STATIC_ROOT": str(folder)}, check=True)
    return folder


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def start(command: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def stack_processes(django_db_setup, tmp_path_factory, collected_static, tls):
    """gunicorn and nginx, started once for this file against the test database."""
    from django.conf import settings

    production_stack_required(settings)
    assert Path(NGINX).exists(), "nginx is missing: apt-get install -y nginx (scripts/bootstrap.sh does)"
    tmp_path = tmp_path_factory.mktemp("production_stack")
    media_root = tmp_path / "media"
    media_root.mkdir()
    ports = {"gunicorn": free_port(), "http": free_port(), "https": free_port()}
    gunicorn_env = {
        **os.environ,
        "DJANGO_ENV": "production",
        "SECRET_KEY": SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "MEDIA_ROOT": str(media_root),
        "STATIC_ROOT": str(collected_static),
        "TRUSTED_PROXY_COUNT": "1",
        "MEDIA_ACCEL_REDIRECT": "/protected-media/",
        "MAP_RATE_EXPORT": f"{EXPORT_RATE}/hour",
    }
    web_env = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"]["environment"]
    assert web_env["TRUSTED_PROXY_COUNT"] == "1" and web_env["MEDIA_ACCEL_REDIRECT"] == "/protected-media/"
    gunicorn = start(
        [sys.executable, "-m", "gunicorn", "geoloc_platform.wsgi", "--bind", f"127.0.0.1:{ports['gunicorn']}",
         "--workers", "2", "--access-logfile", "-"],
        tmp_path / "gunicorn.log", gunicorn_env,
    )  # fmt: skip
    cert, key = tls
    values = compose_nginx_values()
    values.update(
        GEOLOC_UPSTREAM=f"127.0.0.1:{ports['gunicorn']}",
        GEOLOC_HTTP_PORT=f"127.0.0.1:{ports['http']}",
        GEOLOC_HTTPS_PORT=f"127.0.0.1:{ports['https']}",
        GEOLOC_PUBLIC_HTTPS=f":{ports['https']}",
        GEOLOC_TLS_CERTIFICATE=str(cert),
        GEOLOC_TLS_KEY=str(key),
        GEOLOC_MEDIA_ROOT=str(media_root),
    )
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "default.conf").write_text(render_template(TEMPLATE.read_text(), values))
    # The main file is the nginx image's part (its nginx.conf includes conf.d/*.conf in its http block).
    user = "root;" if os.geteuid() == 0 else ""
    (tmp_path / "nginx.conf").write_text(
        f"""{"user " + user if user else ""}
daemon off;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/nginx-error.log info;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {tmp_path}/nginx-access.log;
    client_body_temp_path {tmp_path}/client_body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    include {tmp_path}/conf.d/*.conf;
}}
"""
    )
    check = subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")], capture_output=True)
    assert check.returncode == 0, check.stderr.decode()
    nginx = start([NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")], tmp_path / "nginx.log")
    try:
        wait_for(lambda: all(listening(port) for port in ports.values()), timeout=60)
        yield {"base": f"https://127.0.0.1:{ports['https']}", "http": f"http://127.0.0.1:{ports['http']}",
               "cert": str(cert), "media_root": media_root}  # fmt: skip
    finally:
        process_stop(nginx)
        process_stop(gunicorn)
        print((tmp_path / "gunicorn.log").read_text()[-3000:])
        print((tmp_path / "nginx-error.log").read_text()[-2000:] if (tmp_path / "nginx-error.log").exists() else "")


@pytest.fixture
def stack(stack_processes, transactional_db, settings):
    """The running stack, with this test's rows committed where gunicorn sees them and files in its MEDIA_ROOT."""
    settings.MEDIA_ROOT = stack_processes["media_root"]
    cache.clear()  # throttle counters of earlier tests live in the same Redis
    return stack_processes


def browser(stack) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxy, and the CA bundle of the environment would override ``verify``
    session.verify = stack["cert"]
    return session


def sign_in(stack, user: User) -> requests.Session:
    """The login form, through nginx: CSRF cookie and token, Referer, a Secure HttpOnly session cookie."""
    session = browser(stack)
    login_url = f"{stack['base']}/accounts/login/"
    page = session.get(login_url)
    assert page.status_code == 200
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)[1]
    response = session.post(
        login_url,
        data={"csrfmiddlewaretoken": token, "username": user.username, "password": PASSWORD},
        headers={"Referer": login_url},
        allow_redirects=False,
    )
    assert response.status_code == 302, response.text[:500]
    cookie = response.headers["Set-Cookie"]
    assert "sessionid=" in cookie and "Secure" in cookie and "HttpOnly" in cookie, cookie
    return session


def api_post(stack, session: requests.Session, path: str, payload: dict) -> requests.Response:
    headers = {"X-CSRFToken": session.cookies["csrftoken"], "Referer": f"{stack['base']}/"}
    return session.post(f"{stack['base']}{path}", json=payload, headers=headers)


def production_user(username: str) -> User:
    """A user whose password the production process can check (the tests' MD5 hasher is not configured there)."""
    user = make_user(username)
    user.password = PBKDF2PasswordHasher().encode(PASSWORD, PBKDF2PasswordHasher().salt())
    user.save(update_fields=["password"])
    return user


@pytest.fixture
def world(people):
    public, private = people["crisis"], people["other_crisis"]
    Crisis.objects.filter(pk=public.pk).update(status=Crisis.Status.ACTIVE)
    Crisis.objects.filter(pk=private.pk).update(status=Crisis.Status.ACTIVE, visibility=Crisis.Visibility.PRIVATE)
    public.refresh_from_db()
    private.refresh_from_db()
    (task_media,) = queue(public, eases=(0.9,), with_file=True)
    (private_media,) = queue(private, eases=(0.9,), with_file=True)
    make_point(public)  # something to export
    member = make_user("private-member")
    CrisisMembership.objects.create(crisis=private, user=member, role=CrisisMembership.Role.RESPONDER)
    lease = task_services.lease_grant(crisis=private, volunteer=member, kind="rating")
    private_lease_url = volunteer_image_url(media=private_media, lease_id=lease.pk, volunteer_id=member.pk)
    return {
        "public": public,
        "task_media": task_media,
        "private_media": private_media,
        "private_lease_url": private_lease_url,
        "volunteer": production_user("stack-volunteer"),
    }


def test_a_volunteer_task_image_loads_through_nginx(stack, world):
    session = sign_in(stack, world["volunteer"])
    lease = api_post(stack, session, f"/api/crises/{world['public'].slug}/tasks/next/", {"kind": "rating"})
    assert lease.status_code == 200, lease.text[:500]
    image = session.get(stack["base"] + lease.json()["image_url"])
    assert image.status_code == 200
    assert image.content == world["task_media"].image.open("rb").read()  # nginx sent the file Django pointed at
    assert image.headers["Content-Type"] == "image/jpeg"
    assert image.headers["Cache-Control"].startswith("private")
    assert "X-Accel-Redirect" not in image.headers
    for header in ("X-Content-Type-Options", "Strict-Transport-Security", "Content-Security-Policy"):
        assert header in image.headers, header
    # The same link means nothing to anyone else, and the internal location is closed to clients.
    assert browser(stack).get(stack["base"] + lease.json()["image_url"]).status_code == 404
    name = world["task_media"].image.name
    assert browser(stack).get(f"{stack['base']}/protected-media/{name}").status_code == 404
    assert session.get(f"{stack['base']}/protected-media/{name}").status_code == 404


def test_no_url_serves_a_private_crisis_image_to_an_outsider(stack, world):
    media = world["private_media"]
    urls = [
        world["private_lease_url"],
        f"/map/media/{media.pk}/image/",
        f"/map/media/{media.pk}/image/?blurred=1",
        media.image.url,
        f"/protected-media/{media.image.name}",
    ]
    outsiders = {"anonymous": browser(stack), "signed-in volunteer": sign_in(stack, world["volunteer"])}
    for who, session in outsiders.items():
        for url in urls:
            response = session.get(stack["base"] + url)
            assert response.status_code == 404, (who, url, response.status_code)
            assert response.content != media.image.open("rb").read()


def test_x_forwarded_for_from_the_client_does_not_change_its_rate_limit_identity(stack, world):
    url = f"{stack['base']}/api/map/crises/{world['public'].slug}/export/csv/"
    codes = [
        browser(stack).get(url, headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code
        for n in range(EXPORT_RATE + 2)
    ]
    assert codes == [200] * EXPORT_RATE + [429, 429]


def test_plain_http_redirects_to_https_and_the_security_headers_hold(stack, world):
    redirect = browser(stack).get(f"{stack['http']}/map/?crisis=x", allow_redirects=False)
    assert redirect.status_code == 301
    assert redirect.headers["Location"] == f"{stack['base']}/map/?crisis=x"
    page = browser(stack).get(f"{stack['base']}/")
    assert page.status_code == 200
    headers = page.headers
    assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["Server"] == "nginx"  # no version
    # Static files come from the production storage (hashed names), served through nginx.
    stylesheet = re.search(r'href="(/static/[^"]+\.css)"', page.text)[1]
    assert re.search(r"\.[0-9a-f]{12}\.css$", stylesheet), stylesheet
    assert browser(stack).get(stack["base"] + stylesheet).status_code == 200
