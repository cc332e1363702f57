"""Images of a crisis in draft or paused go through the whole pipeline but reach volunteers only while it is active."""

import pytest
from django.urls import reverse

from crawling import services as crawling_services
from crawling.models import Media
from geoloc_platform.crises import services as crisis_services
from geoloc_platform.crises.models import Crisis
from tasks_app import selectors as task_selectors
from tasks_app.models import Assignment, CrowdTask
from tests.crawling.import_files import csv_text, photo, upload, zip_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued_draft(people, settings, django_capture_on_commit_callbacks) -> Crisis:
    """The draft crisis with two imported photos, run through the pipeline in-process."""
    settings.IMPORT_IN_BACKGROUND_THREAD = False
    settings.IMAGE_MAX_BYTES = 2_000_000
    settings.CROWD_GOLD_RATE = 0
    crisis = people["crisis"]
    rows = [["a.jpg", "Rua alagada em Porto Alegre"], ["b.jpg", "Ponte caída em Eldorado do Sul"]]
    data = zip_bytes({"posts.csv": csv_text(rows, header=["file", "caption"]), "a.jpg": photo(1), "b.jpg": photo(2)})
    job = crawling_services.import_job_create(crisis=crisis, user=None, upload=upload("draft.zip", data))
    with django_capture_on_commit_callbacks(execute=True):
        crawling_services.import_job_start(job=job, mapping=job.mapping)
    return crisis


def next_task(client, crisis: Crisis):
    return client.post(reverse("tasks_app:api-task-next", args=[crisis.slug]), {"kind": "geolocation"})


def test_a_draft_crisis_s_images_are_processed_to_the_queue_but_handed_to_nobody(client, people, queued_draft):
    crisis = queued_draft
    assert crisis.status == Crisis.Status.DRAFT
    assert set(Media.objects.filter(crisis=crisis).values_list("stage", flat=True)) == {Media.Stage.QUEUED}
    assert CrowdTask.objects.filter(crisis=crisis, kind="geolocation", status=CrowdTask.Status.OPEN).count() == 2
    volunteer = people["volunteer"]
    assert not task_selectors.lease_candidates(crisis=crisis, volunteer=volunteer, kind="geolocation").exists()
    client.force_login(volunteer)
    assert next_task(client, crisis).status_code == 404  # a draft is not even visible to volunteers
    client.force_login(people["coordinator"])
    assert next_task(client, crisis).status_code == 403  # nor worked on by its coordinators
    assert not Assignment.objects.exists()


def test_launching_hands_the_waiting_images_out_and_pausing_stops_it_again(client, people, queued_draft):
    crisis = crisis_services.crisis_transition(crisis=queued_draft, action="launch", user=None)
    client.force_login(people["volunteer"])
    granted = next_task(client, crisis)
    assert granted.status_code == 200 and granted.json()["kind"] == "geolocation"
    crisis = crisis_services.crisis_transition(crisis=crisis, action="pause", user=None)
    assert not task_selectors.lease_candidates(crisis=crisis, volunteer=people["other_coordinator"], kind="geolocation")
    assert next_task(client, crisis).status_code == 403
    client.force_login(people["responder"])
    assert next_task(client, crisis).status_code == 403
    assert Assignment.objects.count() == 1
    crisis = crisis_services.crisis_transition(crisis=crisis, action="resume", user=None)
    assert next_task(client, crisis).status_code == 200
    assert Assignment.objects.count() == 2
