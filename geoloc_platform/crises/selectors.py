"""Reads for crises, and the role rules: who may see, contribute to, watch and coordinate a crisis.

Roles (README, "People and permissions"):
- anonymous visitors see public active crises and may contribute where the crisis allows it;
- volunteers (any signed-up user) see and contribute to public crises;
- responders (a member with the responder role, or in the global Responders group) also see private maps;
- coordinators (staff with the coordinator role on a crisis) run that crisis from the admin;
- superusers do everything.
"""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

from geoloc_platform.crises.models import Crisis, CrisisMembership

RESPONDERS_GROUP = "Responders"
COORDINATORS_GROUP = "Coordinators"

VISIBLE_STATUSES = (Crisis.Status.ACTIVE, Crisis.Status.PAUSED, Crisis.Status.CLOSED)


def _has_role(user, crisis: Crisis, role: str) -> bool:
    if not user.is_authenticated:
        return False
    return CrisisMembership.objects.filter(crisis=crisis, user=user, role=role).exists()


def user_is_coordinator(*, user: AbstractBaseUser | AnonymousUser, crisis: Crisis) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or (user.is_staff and _has_role(user, crisis, CrisisMembership.Role.COORDINATOR))


def user_is_responder(*, user: AbstractBaseUser | AnonymousUser, crisis: Crisis) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    if user_is_coordinator(user=user, crisis=crisis):
        return True
    return _has_role(user, crisis, CrisisMembership.Role.RESPONDER) or (
        crisis.is_public and user.groups.filter(name=RESPONDERS_GROUP).exists()
    )


def user_can_view_crisis(*, user: AbstractBaseUser | AnonymousUser, crisis: Crisis) -> bool:
    """The landing page: public crises once launched; private ones for their members; drafts for coordinators."""
    if user_is_coordinator(user=user, crisis=crisis):
        return True
    if crisis.status == Crisis.Status.DRAFT:
        return False
    if crisis.is_public:
        return True
    return user.is_authenticated and CrisisMembership.objects.filter(crisis=crisis, user=user).exists()


def user_can_contribute(*, user: AbstractBaseUser | AnonymousUser, crisis: Crisis) -> bool:
    """Answer crowd tasks: only while the crisis is active (and with a confirmed e-mail where it asks for one)."""
    if crisis.status != Crisis.Status.ACTIVE or not user_can_view_crisis(user=user, crisis=crisis):
        return False
    if crisis.require_email_confirmation:
        return user.is_authenticated and (
            user_email_confirmed(user=user) or user_is_coordinator(user=user, crisis=crisis)
        )
    return user.is_authenticated or crisis.allow_anonymous


def user_email_confirmed(*, user: AbstractBaseUser) -> bool:
    """The volunteer followed the confirmation link sent to their current address."""
    from geoloc_platform.accounts.models import EmailConfirmation

    return EmailConfirmation.objects.filter(user_id=user.pk, email=user.email, confirmed_at__isnull=False).exists()


def user_can_view_private_map(*, user: AbstractBaseUser | AnonymousUser, crisis: Crisis) -> bool:
    """Exact locations and exports of a private crisis: its responders and coordinators only."""
    if crisis.status == Crisis.Status.DRAFT:
        return user_is_coordinator(user=user, crisis=crisis)
    return user_is_responder(user=user, crisis=crisis)


def crisis_list_visible(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Crisis]:
    """Crises shown on the home page to this user, active first."""
    crises = Crisis.objects.all()
    if user.is_authenticated and user.is_superuser:
        visible = crises
    else:
        condition = Q(status__in=VISIBLE_STATUSES, visibility=Crisis.Visibility.PUBLIC)
        if user.is_authenticated:
            condition |= Q(status__in=VISIBLE_STATUSES, memberships__user=user)
            if user.is_staff:
                condition |= Q(memberships__user=user, memberships__role=CrisisMembership.Role.COORDINATOR)
        visible = crises.filter(condition).distinct()
    status_rank = Case(
        When(status=Crisis.Status.ACTIVE, then=Value(0)),
        When(status=Crisis.Status.PAUSED, then=Value(1)),
        When(status=Crisis.Status.DRAFT, then=Value(2)),
        default=Value(3),
        output_field=IntegerField(),
    )
    return visible.order_by(status_rank, "-created_at")


def crisis_list_coordinated(*, user: AbstractBaseUser) -> QuerySet[Crisis]:
    """Crises this user may run in the admin."""
    if user.is_superuser:
        return Crisis.objects.all()
    if not user.is_staff:
        return Crisis.objects.none()
    return Crisis.objects.filter(memberships__user=user, memberships__role=CrisisMembership.Role.COORDINATOR).distinct()
