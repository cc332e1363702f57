"""Reads of crowd work against the database."""

from django.contrib.auth.hashers import make_password

from geoloc_platform.accounts.services import GUEST_PREFIX
from geoloc_platform.crises.models import CrisisMembership
from tasks_app import selectors
from tasks_app.models import VolunteerProfile
from tests.conftest import make_user


def test_one_volunteers_record_is_the_one_the_standings_of_many_give(crisis):
    good_record = {"skill": 0.8, "record_correct": 9, "record_checked": 10, "record_gold_correct": 4}
    newcomer = make_user("sel-newcomer")
    recorded = make_user("sel-recorded")
    sloppy = make_user("sel-sloppy")
    guest = make_user(f"{GUEST_PREFIX}abc")
    guest.password = make_password(None)  # unusable, as guest_account_create makes it
    guest.save(update_fields=["password"])
    staff_coordinator = make_user("sel-staff-coordinator", is_staff=True)
    member_not_staff = make_user("sel-member-not-staff")
    superuser = make_user("sel-root", is_superuser=True)
    for user in (recorded, guest):
        VolunteerProfile.objects.create(user=user, **good_record)
    VolunteerProfile.objects.create(user=sloppy, skill=0.5, record_correct=9, record_checked=40)
    for user in (staff_coordinator, member_not_staff):
        CrisisMembership.objects.create(crisis=crisis, user=user, role=CrisisMembership.Role.COORDINATOR)
    people = [newcomer, recorded, sloppy, guest, staff_coordinator, member_not_staff, superuser]
    standings = selectors.volunteer_standings(crisis=crisis, volunteer_ids=[user.pk for user in people])
    has_record = {user.username: selectors.volunteer_has_record(volunteer=user, crisis=crisis) for user in people}
    assert has_record == {user.username: standings[user.pk].has_record for user in people}
    assert has_record == {
        "sel-newcomer": False,
        "sel-recorded": True,
        "sel-sloppy": False,
        guest.username: False,
        "sel-staff-coordinator": True,
        "sel-member-not-staff": False,
        "sel-root": True,
    }
