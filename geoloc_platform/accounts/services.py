"""Writes for people: volunteer sign-up and the role groups."""

import secrets

from django.conf import settings
from django.contrib.auth.models import Group, Permission, User
from django.core.cache import cache
from django.db import transaction

from geoloc_platform.crises.selectors import COORDINATORS_GROUP, RESPONDERS_GROUP

# What staff in the Coordinators group may do in the admin; per-crisis checks narrow it further.
COORDINATOR_PERMISSIONS = [
    ("crises", "add_crisis"),
    ("crises", "change_crisis"),
    ("crises", "view_crisis"),
    ("crises", "coordinate_crisis"),
    ("crises", "add_crisismembership"),
    ("crises", "change_crisismembership"),
    ("crises", "delete_crisismembership"),
    ("crises", "view_crisismembership"),
    ("crises", "view_crisisstatuschange"),
    ("crawling", "view_post"),
    ("crawling", "view_media"),
    ("crawling", "view_crawlstate"),
    ("crawling", "add_importjob"),
    ("crawling", "change_importjob"),
    ("crawling", "view_importjob"),
    ("classification", "view_modelversion"),
    ("classification", "change_modelversion"),
    ("classification", "view_postgeolocation"),
    ("classification", "view_mediarelevance"),
    ("classification", "view_relevancelabel"),
    ("consensus", "view_ratingconsensus"),
    ("consensus", "view_crisisratingstats"),
    ("consensus", "view_locationconsensus"),
    ("consensus", "change_locationconsensus"),
    ("consensus", "view_volunteerskill"),
    ("mapping", "view_crisisprivacy"),
    ("mapping", "add_crisisprivacy"),
    ("mapping", "change_crisisprivacy"),
    ("mapping", "view_dashboardsnapshot"),
    ("auth", "view_user"),
]


def role_groups_ensure() -> None:
    """Create the Coordinators and Responders groups with their permissions (idempotent)."""
    coordinators, _ = Group.objects.get_or_create(name=COORDINATORS_GROUP)
    Group.objects.get_or_create(name=RESPONDERS_GROUP)
    # Permissions appear app by app during migrate, so this runs after each app and adds what exists.
    for app_label, codename in COORDINATOR_PERMISSIONS:
        permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
        if permission is not None:
            coordinators.permissions.add(permission)


@transaction.atomic
def volunteer_sign_up(*, username: str, email: str, password: str) -> User:
    """A new volunteer: an ordinary active account, no staff rights."""
    return User.objects.create_user(username=username, email=email, password=password)


GUEST_PREFIX = "guest-"


def guest_account_create(*, client_address: str) -> User | None:
    """A throwaway account for someone contributing without signing up, where a crisis allows it.

    Answers need a person to attribute them to (independence, skill, one answer per image each), so a guest is
    a real user with no password, kept in the session. None when this address made too many guests this hour.
    """
    key = f"guests-per-address:{client_address}"
    cache.add(key, 0, timeout=3600)
    if cache.incr(key) > settings.GUEST_ACCOUNTS_PER_ADDRESS_PER_HOUR:
        return None
    user = User(username=f"{GUEST_PREFIX}{secrets.token_hex(6)}", first_name="Guest")
    user.set_unusable_password()
    user.save()
    return user


@transaction.atomic
def coordinator_grant(*, user: User) -> User:
    """Make a user a coordinator: staff, in the Coordinators group (crises are then given per crisis)."""
    role_groups_ensure()
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.groups.add(Group.objects.get(name=COORDINATORS_GROUP))
    return user
