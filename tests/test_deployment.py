"""docker-compose.yml and the nginx file it mounts, checked without Docker (``docker-compose config`` runs in CI
only where docker-compose is installed; the production stack itself runs in tests/integration/
test_production_stack.py)."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # anchors and merge keys resolved
SERVICES = COMPOSE["services"]
TEMPLATE = ROOT / "deploy" / "nginx" / "default.conf.template"


def test_every_service_has_an_image_and_names_only_declared_volumes_and_services():
    declared = set(COMPOSE.get("volumes") or {})
    for name, service in SERVICES.items():
        assert "image" in service or "build" in service, name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/", "$")):
                assert source in declared, (name, source)
        depends = service.get("depends_on", [])
        assert set(depends) <= set(SERVICES), (name, depends)
        assert all(isinstance(value, str) for value in (service.get("environment") or {}).values()), name


def test_only_nginx_is_published_and_web_trusts_exactly_that_one_proxy():
    published = {name for name, service in SERVICES.items() if service.get("ports")}
    assert published == {"nginx"}
    web = SERVICES["web"]["environment"]
    assert web["TRUSTED_PROXY_COUNT"] == "1"
    assert web["DJANGO_ENV"] == "production"
    for worker in ("worker-cpu", "worker-gpu", "beat"):
        assert "TRUSTED_PROXY_COUNT" not in SERVICES[worker]["environment"], worker


def test_nginx_mounts_the_template_with_a_value_for_each_of_its_variables():
    nginx = SERVICES["nginx"]
    mounts = dict(volume.split(":")[:2] for volume in nginx["volumes"])
    assert mounts["./deploy/nginx/default.conf.template"] == "/etc/nginx/templates/default.conf.template"
    assert TEMPLATE.exists()
    used = set(re.findall(r"\$\{(\w+)\}", TEMPLATE.read_text()))
    assert used and used <= set(nginx["environment"]), used - set(nginx["environment"])
    assert re.fullmatch(nginx["environment"]["NGINX_ENVSUBST_FILTER"].strip("^") + r"\w*", sorted(used)[0])
    # nginx reads the media the web service writes.
    media = [volume for volume in nginx["volumes"] if volume.startswith("media:")]
    assert media and media[0].split(":")[1] == nginx["environment"]["GEOLOC_MEDIA_ROOT"]
    assert SERVICES["web"]["environment"]["MEDIA_ROOT"] == nginx["environment"]["GEOLOC_MEDIA_ROOT"]


def test_the_accel_prefix_of_web_is_an_internal_location_of_nginx():
    prefix = SERVICES["web"]["environment"]["MEDIA_ACCEL_REDIRECT"]
    text = TEMPLATE.read_text()
    block = re.search(r"location " + re.escape(prefix) + r" \{(.*?)\n    \}", text, flags=re.DOTALL)
    assert block, prefix
    assert "internal;" in block[1]
    assert "alias ${GEOLOC_MEDIA_ROOT}/;" in block[1]
    # Nothing else under MEDIA_ROOT is reachable from outside: no location serves it directly.
    assert text.count("${GEOLOC_MEDIA_ROOT}") == 1
