"""Coordinators in the admin: queue images by hand, release withheld tasks."""

from django.test import Client

from crawling.models import Media
from tasks_app.models import CrowdTask
from tests.tasks_app.conftest import add_media, queue


def test_a_coordinator_queues_fetched_images_for_the_crowd(crisis, people):
    (image,) = add_media(crisis, stage=Media.Stage.FETCHED)
    client = Client()
    client.force_login(people["coordinator"])
    response = client.post(
        "/admin/tasks_app/queueablemedia/", {"action": "queue_for_crowd", "_selected_action": [image.pk]}, follow=True
    )
    assert "Queued 1 images for the crowd." in response.content.decode()
    image.refresh_from_db()
    assert image.stage == Media.Stage.QUEUED
    assert CrowdTask.objects.filter(media=image).count() == 2


def test_a_coordinator_releases_an_image_predicted_impossible(crisis, people):
    (image,) = queue(crisis, labels=["impossible"])
    task = CrowdTask.objects.get(media=image, kind="geolocation")
    client = Client()
    client.force_login(people["coordinator"])
    client.post("/admin/tasks_app/crowdtask/", {"action": "release", "_selected_action": [task.pk]}, follow=True)
    task.refresh_from_db()
    assert task.status == CrowdTask.Status.OPEN and task.released_by == people["coordinator"]


def test_a_coordinator_of_another_crisis_does_not_see_its_tasks(crisis, people):
    queue(crisis)
    client = Client()
    client.force_login(people["other_coordinator"])
    response = client.get("/admin/tasks_app/crowdtask/")
    assert response.status_code == 200
    assert "0 crowd tasks" in response.content.decode()
