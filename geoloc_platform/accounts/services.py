"""Writes for people: volunteer sign-up and the role groups."""

import secrets

from django.conf import settings
from django.contrib.auth.models import Group, Permission, User
from django.core import signing
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from geoloc_platform.accounts.models import EmailConfirmation
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
    """A new volunteer: an ordinary active account, no staff rights, its e-mail address not yet confirmed."""
    user = User.objects.create_user(username=username, email=email, password=password)
    EmailConfirmation.objects.create(user=user, email=email)
    return user


def sign_up_slot_take(*, client_address: str) -> bool:
    """Count a sign-up from this address; False once it made ``SIGNUP_PER_ADDRESS_PER_HOUR`` this hour.

    Counted before the account is made (add, then incr: atomic in Redis and the database cache), so parallel
    requests cannot slip past the limit together. Accounts are what an attacker needs many of: the limit is
    per address, and the trust rule (consensus README) makes many accounts worth nothing on their own anyway.
    """
    key = f"signups-per-address:{client_address}"
    cache.add(key, 0, timeout=3600)
    return cache.incr(key) <= settings.SIGNUP_PER_ADDRESS_PER_HOUR


EMAIL_CONFIRMATION_SALT = "accounts.email-confirmation"


def email_confirmation_token(*, user: User) -> str:
    """A signed, expiring token naming the user and the address the mail went to."""
    return signing.dumps({"user": user.pk, "email": user.email}, salt=EMAIL_CONFIRMATION_SALT, compress=True)


def email_confirmation_send(*, user: User, link: str) -> None:
    """Send the confirmation link (after the transaction that made the account, so no mail for a rollback)."""
    from django.utils.translation import gettext as _

    EmailConfirmation.objects.update_or_create(user=user, defaults={"email": user.email, "sent_at": timezone.now()})
    subject = _("Confirm your e-mail address")
    body = _(
        "Hello %(name)s,\n\nconfirm your address to help with crises that ask for it:\n%(link)s\n\n"
        "The link works for %(days)d days. If you did not sign up, ignore this message."
    ) % {"name": user.get_username(), "link": link, "days": settings.EMAIL_CONFIRMATION_MAX_AGE_DAYS}
    transaction.on_commit(lambda: send_mail(subject, body, None, [user.email], fail_silently=False))


def email_confirm(*, token: str) -> User | None:
    """Mark the address confirmed; None for a forged, expired or outdated token (the address changed since)."""
    try:
        data = signing.loads(
            token, salt=EMAIL_CONFIRMATION_SALT, max_age=settings.EMAIL_CONFIRMATION_MAX_AGE_DAYS * 86400
        )
    except signing.BadSignature:
        return None
    user = User.objects.filter(pk=data.get("user"), is_active=True).first()
    if user is None or user.email != data.get("email"):
        return None
    EmailConfirmation.objects.update_or_create(
        user=user, defaults={"email": user.email, "confirmed_at": timezone.now()}
    )
    return user


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
