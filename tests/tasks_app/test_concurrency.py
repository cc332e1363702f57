"""Many volunteers asking at once on PostgreSQL: no overshoot of the redundancy, no image twice to one person."""

import threading
from collections import Counter

import pytest
from django.db import connection

from tasks_app import services
from tasks_app.models import Answer, Assignment, CrowdTask
from tests.conftest import make_user
from tests.tasks_app.conftest import queue

GEO = CrowdTask.Kind.GEOLOCATION


@pytest.mark.django_db(transaction=True)
def test_volunteers_asking_at_once_never_overshoot_and_never_get_an_image_twice(crisis):
    if connection.vendor != "postgresql":
        pytest.skip("SELECT ... FOR UPDATE SKIP LOCKED needs PostgreSQL; SQLite serialises writers instead")
    images = queue(crisis, eases=(0.9, 0.8, 0.7, 0.6, 0.5, 0.4))
    volunteers = [make_user(f"crowd{i}") for i in range(12)]
    start = threading.Barrier(len(volunteers))
    errors: list[BaseException] = []
    handed: list[tuple[int, int]] = []
    lock = threading.Lock()

    def work(volunteer):
        try:
            start.wait()  # everyone asks at the same moment
            misses = 0
            while misses < 3:
                lease = services.lease_grant(crisis=crisis, volunteer=volunteer, kind=GEO)
                if lease is None:
                    misses += 1  # every free row may be locked by another volunteer for an instant
                    continue
                misses = 0
                with lock:
                    handed.append((volunteer.pk, lease.task.media_id))
                services.answer_submit(
                    volunteer=volunteer, lease_id=lease.pk, kind=GEO, lat=-30.0, lon=-51.2, precision="medium"
                )
        except BaseException as error:  # collected and asserted below, never swallowed
            with lock:
                errors.append(error)
        finally:
            connection.close()  # each thread had its own connection

    threads = [threading.Thread(target=work, args=(volunteer,)) for volunteer in volunteers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    per_image = Counter(media_id for _, media_id in handed)
    assert max(per_image.values()) <= crisis.geolocation_redundancy
    assert len(set(handed)) == len(handed), "an image was handed twice to one volunteer"
    for task in CrowdTask.objects.filter(kind=GEO):
        assert task.slots_taken <= task.redundancy
        assert Answer.objects.filter(task=task).count() == task.answers_count <= task.redundancy
    assert Answer.objects.filter(kind=GEO).count() == len(handed)
    # With enough volunteers every slot is used: the scheduler does not leave work on the table.
    assert sum(per_image.values()) == len(images) * crisis.geolocation_redundancy
    assert not Assignment.objects.filter(state=Assignment.State.LEASED).exists()
