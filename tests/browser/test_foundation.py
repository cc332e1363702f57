"""In a real browser: a coordinator creates, launches and pauses a crisis; a volunteer signs up and logs in."""

import pytest
from django.contrib.auth.models import User

from geoloc_platform.accounts.services import coordinator_grant, role_groups_ensure
from geoloc_platform.crises.models import Crisis, CrisisMembership, CrisisStatusChange
from tests.browser.conftest import screenshot
from tests.browser.drawing import draw_rectangle
from tests.conftest import PASSWORD, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _select_action(page, crisis_name: str, action: str) -> None:
    page.goto("/admin/crises/crisis/")
    page.locator("#result_list tr", has_text=crisis_name).locator("input.action-select").check()
    page.select_option("select[name=action]", action)
    page.get_by_role("button", name="Go").click()


def test_coordinator_creates_a_crisis_with_a_drawn_area_launches_and_pauses_it(page):
    role_groups_ensure()
    coordinator = coordinator_grant(user=make_user("coordinator"))

    page.goto("/admin/login/")
    page.fill("#id_username", coordinator.username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/")

    page.goto("/admin/crises/crisis/add/")
    page.fill("#id_name", "Canoas floods")
    page.select_option("#id_hazard", "flood")
    page.fill("#id_volunteer_instructions", "Look for street signs.")
    page.fill("#id_country_codes-entry", "br")  # a tag input: Enter makes the chip, in the standard case
    page.keyboard.press("Enter")

    draw_rectangle(page, "#id_affected_area-map")  # the affected area, dragged across the map widget
    screenshot(page, "admin_crisis_drawn_area")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url("**/admin/crises/crisis/")

    crisis = Crisis.objects.get(slug="canoas-floods")
    assert crisis.status == Crisis.Status.DRAFT
    assert crisis.country_codes == ["BR"]
    assert crisis.affected_area["type"] == "Polygon"
    assert len(crisis.affected_area["coordinates"][0]) == 5  # a closed rectangle
    assert CrisisMembership.objects.filter(crisis=crisis, user=coordinator, role="coordinator").exists()

    _select_action(page, "Canoas floods", "launch_crises")
    page.get_by_text("Canoas floods: now active.").wait_for()
    _select_action(page, "Canoas floods", "pause_crises")
    page.get_by_text("Canoas floods: now paused.").wait_for()
    screenshot(page, "admin_crisis_paused")

    crisis.refresh_from_db()
    assert crisis.status == Crisis.Status.PAUSED
    assert list(crisis.status_changes.order_by("id").values_list("to_status", flat=True)) == ["active", "paused"]
    assert CrisisStatusChange.objects.filter(changed_by=coordinator).count() == 2


def test_volunteer_signs_up_and_logs_in(page):
    page.goto("/")
    page.get_by_role("link", name="Sign up").click()
    page.fill("#id_username", "ana")
    page.fill("#id_email", "ana@example.org")
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.get_by_role("button", name="Create my account").click()
    page.get_by_text("Signed in as ana").wait_for()

    page.get_by_role("button", name="Log out").click()
    page.get_by_role("link", name="Log in").click()
    page.fill("#id_username", "ana")
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_text("Signed in as ana").wait_for()
    screenshot(page, "volunteer_logged_in")
    assert User.objects.get(username="ana").is_staff is False
