"""Writes for crises: creation and the lifecycle draft -> active -> paused -> closed."""

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from geoloc_platform.crises.models import Crisis, CrisisMembership, CrisisStatusChange
from geoloc_platform.exceptions import InvalidTransition

# action -> (statuses it may start from, status it leads to)
LIFECYCLE: dict[str, tuple[frozenset[str], str]] = {
    "launch": (frozenset({Crisis.Status.DRAFT}), Crisis.Status.ACTIVE),
    "pause": (frozenset({Crisis.Status.ACTIVE}), Crisis.Status.PAUSED),
    "resume": (frozenset({Crisis.Status.PAUSED}), Crisis.Status.ACTIVE),
    "close": (frozenset({Crisis.Status.DRAFT, Crisis.Status.ACTIVE, Crisis.Status.PAUSED}), Crisis.Status.CLOSED),
}


@transaction.atomic
def crisis_create(*, created_by: AbstractBaseUser | None, **fields) -> Crisis:
    """Create a draft crisis; its creator becomes one of its coordinators."""
    crisis = Crisis(created_by=created_by, **fields)
    crisis.full_clean()
    crisis.save()
    if created_by is not None:
        CrisisMembership.objects.create(crisis=crisis, user=created_by, role=CrisisMembership.Role.COORDINATOR)
    return crisis


@transaction.atomic
def crisis_transition(*, crisis: Crisis, action: str, user: AbstractBaseUser | None, note: str = "") -> Crisis:
    """Apply a lifecycle action, logged twice: in the crisis's own history and in the admin's log.

    The conditional UPDATE is the claim: two coordinators pressing "pause" at once log one change.
    """
    if action not in LIFECYCLE:
        raise InvalidTransition(f"Unknown lifecycle action {action!r}.", code="unknown_action")
    allowed_from, to_status = LIFECYCLE[action]
    current = Crisis.objects.filter(pk=crisis.pk).values_list("status", flat=True).first()
    moved = Crisis.objects.filter(pk=crisis.pk, status__in=allowed_from).update(status=to_status)
    if not moved:
        raise InvalidTransition(f"Cannot {action} the crisis {crisis.name!r}: it is {current}.")
    CrisisStatusChange.objects.create(
        crisis=crisis, from_status=current, to_status=to_status, changed_by=user, note=note[:500]
    )
    if user is not None:
        LogEntry.objects.log_actions(
            user_id=user.pk,
            queryset=[crisis],
            action_flag=CHANGE,
            change_message=f"{action}: {current} -> {to_status}" + (f" ({note})" if note else ""),
            single_object=True,
        )
    crisis.status = to_status
    return crisis


def crisis_membership_add(*, crisis: Crisis, user: AbstractBaseUser, role: str) -> CrisisMembership:
    membership, _ = CrisisMembership.objects.get_or_create(crisis=crisis, user=user, role=role)
    return membership
