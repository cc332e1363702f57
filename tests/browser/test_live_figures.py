"""In a real browser: the coordinator dashboard and the volunteers' leaderboard show the present, say when their
data is of, and refresh on their own and on demand."""

import pytest
from django.core.cache import cache

from geoloc_platform.crises.services import crisis_transition
from tasks_app import services as task_services
from tests.browser.conftest import screenshot
from tests.conftest import PASSWORD, make_user
from tests.mapping.conftest import make_point
from tests.tasks_app.conftest import crisis as active_crisis  # noqa: F401 (a fixture)
from tests.tasks_app.conftest import pin_the_next_image, queue

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, user) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def funnel(page) -> dict[str, str]:
    texts = page.locator("#dash-funnel text").all_text_contents()  # SVG text has no innerText
    return dict(zip(texts[0::2], texts[1::2], strict=True))


def test_the_dashboard_shows_a_point_published_a_moment_ago(page, people, settings):
    settings.MAP_DASHBOARD_MAX_AGE_SECONDS = 1
    crisis = people["crisis"]
    log_in(page, people["coordinator"])
    page.goto(f"/crises/{crisis.slug}/dashboard/")
    page.locator("#dash-computed", has_text="Data of").wait_for()
    assert funnel(page)["geolocated"] == "0"
    make_point(crisis)
    page.wait_for_timeout(1100)  # older than its max age now
    cache.clear()
    page.get_by_role("button", name="Refresh now").click()
    page.wait_for_function("document.querySelectorAll('#dash-funnel text')[11].textContent === '1'")
    assert funnel(page)["geolocated"] == "1"
    screenshot(page, "dashboard_live")


def test_the_dashboard_says_which_points_wait_for_the_coordinator_and_links_to_the_checks(page, people, settings):
    settings.CROWD_GOLD_RATE = 0
    crisis = crisis_transition(crisis=people["crisis"], action="launch", user=people["coordinator"])
    queue(crisis, eases=(0.9,), kinds=("geolocation",))
    pin_the_next_image(crisis, make_user("newcomer"), -30.0346)
    log_in(page, people["coordinator"])
    page.goto(f"/crises/{crisis.slug}/dashboard/")
    page.locator("#dash-checks dd").first.wait_for()
    card = page.locator("#dash-checks")
    figures = dict(zip(card.locator("dt").all_inner_texts(), card.locator("dd").all_inner_texts(), strict=True))
    assert figures["points waiting for a check"] == "1"
    assert figures["checks and reviews only a coordinator can take now"] == "1"
    assert page.locator("#dash-checks-alert").is_visible()
    assert "at least 5 correct checked answers" in page.locator("#dash-checks-rule").inner_text()
    screenshot(page, "dashboard_checks")
    page.get_by_role("link", name="Check locations").click()
    page.get_by_role("heading", name="Is this photo at this pin?").wait_for()


def test_the_leaderboard_shows_an_answer_given_a_moment_ago(page, active_crisis, settings):  # noqa: F811
    settings.CROWD_LEADERBOARD_MAX_AGE_SECONDS = 1
    queue(active_crisis, eases=(0.9,))
    volunteer = make_user("ana")
    log_in(page, volunteer)
    page.goto(f"/crises/{active_crisis.slug}/work/")
    page.locator("#leaderboard-empty").wait_for()
    lease = task_services.lease_grant(crisis=active_crisis, volunteer=volunteer, kind="rating")
    task_services.answer_submit(volunteer=volunteer, lease_id=lease.pk, kind="rating", difficulty="easy")
    page.wait_for_timeout(1100)
    cache.clear()
    page.get_by_role("button", name="Refresh", exact=True).click()
    page.locator("#leaderboard-list li", has_text="ana").wait_for()
    assert page.locator("#leaderboard-list li").inner_text() == "ana 1 answer"
    page.locator("#leaderboard-time", has_text="Updated at").wait_for()
    screenshot(page, "work_leaderboard_live")
