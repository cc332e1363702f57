"""Shared fixtures: people in every role, a crisis, generated images."""

import io

import pytest
from django.contrib.auth.models import Group, User
from PIL import Image

from geoloc_platform.accounts.services import coordinator_grant, role_groups_ensure
from geoloc_platform.crises import services as crisis_services
from geoloc_platform.crises.models import Crisis, CrisisMembership
from geoloc_platform.crises.selectors import RESPONDERS_GROUP

PASSWORD = "a-long-test-password-42"

SQUARE_AREA = {
    "type": "Polygon",
    "coordinates": [[[-51.3, -30.2], [-51.0, -30.2], [-51.0, -29.9], [-51.3, -29.9], [-51.3, -30.2]]],
}


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    # Hashing with production strength takes ~0.3 s a user; tests create many.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The cold-start difficulty estimate loads Lite0 for every scored image; tests that want it opt in with a
    # tiny backbone (tests/classification/test_difficulty_estimators.py).
    settings.DIFFICULTY_COLD_START = False
    from classification.selectors import searchable_places_forget
    from classification.services import crisis_context_forget

    crisis_context_forget()  # a rolled-back crisis's id comes back in the next test, with other posts
    searchable_places_forget()  # and rolled-back places must not answer its searches


@pytest.fixture(autouse=True)
def _celery_in_process(request, monkeypatch):
    """Tasks run in the test's process, as on the embedded default, even when a broker is configured.

    Tests marked ``worker`` are the exception: they send real messages to real worker processes.
    """
    if request.node.get_closest_marker("worker") is None:
        from geoloc_platform.celery import app

        monkeypatch.setitem(app.conf, "task_always_eager", True)


def make_user(username: str, **fields) -> User:
    return User.objects.create_user(username=username, password=PASSWORD, email=f"{username}@example.org", **fields)


def make_crisis(*, slug: str = "porto-alegre-floods", coordinator: User | None = None, **fields) -> Crisis:
    defaults = {
        "name": slug.replace("-", " ").title(),
        "slug": slug,
        "hazard": Crisis.Hazard.FLOOD,
        "affected_area": SQUARE_AREA,
        "country_codes": ["BR"],
        "languages": ["pt", "en"],
    }
    return crisis_services.crisis_create(created_by=coordinator, **{**defaults, **fields})


@pytest.fixture
def people(db):
    """One user per role, around two crises: ``crisis`` (run by ``coordinator``) and ``other_crisis``."""
    role_groups_ensure()
    coordinator = coordinator_grant(user=make_user("coordinator"))
    other_coordinator = coordinator_grant(user=make_user("other_coordinator"))
    responder = make_user("responder")
    global_responder = make_user("global_responder")
    global_responder.groups.add(Group.objects.get(name=RESPONDERS_GROUP))
    crisis = make_crisis(coordinator=coordinator)
    other_crisis = make_crisis(slug="izmir-earthquake", coordinator=other_coordinator, hazard=Crisis.Hazard.EARTHQUAKE)
    CrisisMembership.objects.create(crisis=crisis, user=responder, role=CrisisMembership.Role.RESPONDER)
    return {
        "volunteer": make_user("volunteer"),
        "responder": responder,
        "global_responder": global_responder,
        "coordinator": coordinator,
        "other_coordinator": other_coordinator,
        "superuser": User.objects.create_superuser("root", "root@example.org", PASSWORD),
        "crisis": crisis,
        "other_crisis": other_crisis,
    }


def jpeg_bytes(*, size=(64, 48), color=(200, 40, 40), exif=None) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG", **({"exif": exif} if exif is not None else {}))
    return out.getvalue()
