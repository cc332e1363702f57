"""Two volunteers answer for the last open slot of an image at the same instant, through the HTTP API (gunicorn on
PostgreSQL): one answer is stored, the other gets 409 ``lease_expired``, and the redundancy is never exceeded.

``answer_submit`` locks the lease row, then the task row; a late answer (expired lease) re-takes a slot only under
that lock, so two submissions for one free slot take turns and the second finds it gone.
"""

import threading

import pytest
from django.db import connection, transaction
from django.utils import timezone

from geoloc_platform.crises.services import crisis_transition
from tasks_app import services
from tasks_app.models import Answer, Assignment, CrowdTask
from tests.conftest import make_crisis, make_user
from tests.integration.fault_servers import WebServer, database_connection, http_call, volunteer_session
from tests.tasks_app.conftest import queue

GEO = CrowdTask.Kind.GEOLOCATION
PIN = {"kind": GEO, "lat": -30.03, "lon": -51.22, "precision": "high"}
ROUNDS = 4  # one image each: a race that a lost lock would lose only now and then is run more than once


@pytest.fixture
def web(transactional_db, settings, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("a real race needs row locks between server threads: run on the production stack")
    server = WebServer(settings, tmp_path / "gunicorn.log", threads=4)
    yield server
    server.stop()
    print(server.log_path.read_text()[-3000:])


def _crisis(slug: str, redundancy: int):
    crisis = make_crisis(slug=slug, geolocation_redundancy=redundancy)
    return crisis_transition(crisis=crisis, action="launch", user=None)


def _lease_through_api(port: int, crisis, headers: dict) -> int:
    status, _, lease = http_call(port, f"/api/crises/{crisis.slug}/tasks/next/", headers=headers, body={"kind": GEO})
    assert status == 200, lease
    return lease["lease_id"]


def _expire(lease_id: int) -> None:
    """The lease runs out and the periodic expiry gives its slot back."""
    Assignment.objects.filter(pk=lease_id).update(expires_at=timezone.now() - timezone.timedelta(seconds=1))
    assert services.lease_expire_due() >= 1


def _submit_at_once(port: int, submissions: list[tuple[dict, int]]) -> list[tuple[int, dict]]:
    """POST every (headers, lease id) answer from its own thread, released together by a barrier."""
    barrier = threading.Barrier(len(submissions))
    replies: list = [None] * len(submissions)

    def submit(index: int, headers: dict, lease_id: int) -> None:
        barrier.wait()
        status, _, body = http_call(port, "/api/answers/", headers=headers, body={"lease_id": lease_id, **PIN})
        replies[index] = (status, body)

    threads = [threading.Thread(target=submit, args=(i, *s)) for i, s in enumerate(submissions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return replies


def _assert_one_stored_one_refused(replies, task_id: int, *, answers: int) -> None:
    """One of the racing answers is stored, so the task holds ``answers``, its redundancy at the race."""
    statuses = sorted(status for status, _ in replies)
    assert statuses == [201, 409], replies
    refused = next(body for status, body in replies if status == 409)
    assert refused["code"] == "lease_expired"
    assert "answers it needs" in refused["detail"]
    task = CrowdTask.objects.get(pk=task_id)
    stored = Answer.objects.filter(task_id=task_id).count()
    # Consensus may ask for more afterwards (adaptive redundancy: one pin without a record is not enough), so the
    # task's redundancy can have grown since; what the race decides is that the one free slot was filled once.
    assert stored == task.answers_count == answers
    assert task.slots_taken <= task.redundancy


def test_an_expired_lease_and_the_lease_that_took_its_slot_answer_at_once_one_is_stored(web):
    crisis = _crisis("last-slot-regranted", redundancy=1)
    first, second = (volunteer_session(make_user(name)) for name in ("slow-volunteer", "quick-volunteer"))
    for _ in range(ROUNDS):
        queue(crisis, eases=(0.9,), kinds=(GEO,))
        late_lease = _lease_through_api(web.port, crisis, first)
        _expire(late_lease)
        fresh_lease = _lease_through_api(web.port, crisis, second)  # the freed slot goes to the next volunteer
        task_id = Assignment.objects.get(pk=fresh_lease).task_id
        assert Assignment.objects.get(pk=late_lease).task_id == task_id

        replies = _submit_at_once(web.port, [(first, late_lease), (second, fresh_lease)])

        _assert_one_stored_one_refused(replies, task_id, answers=1)
        assert replies[1][0] == 201, "the volunteer holding the slot is the one whose answer counts"


def test_two_late_answers_for_the_one_slot_left_store_exactly_one(web):
    crisis = _crisis("last-slot-late", redundancy=2)
    volunteers = [volunteer_session(make_user(f"late-{index}")) for index in range(3)]
    winners = set()
    for _ in range(ROUNDS):
        queue(crisis, eases=(0.9,), kinds=(GEO,))
        done_lease = _lease_through_api(web.port, crisis, volunteers[0])
        answer = {"lease_id": done_lease, **PIN}
        status, _, body = http_call(web.port, "/api/answers/", headers=volunteers[0], body=answer)
        assert status == 201, body
        task_id = Assignment.objects.get(pk=done_lease).task_id
        # Two more volunteers were handed the image in turn, each lease running out and freeing the slot.
        late_leases = []
        for headers in volunteers[1:]:
            late_leases.append(_lease_through_api(web.port, crisis, headers))
            _expire(late_leases[-1])
        task = CrowdTask.objects.get(pk=task_id)
        assert (task.slots_taken, task.answers_count, task.status) == (1, 1, CrowdTask.Status.OPEN)

        replies = _submit_at_once(web.port, list(zip(volunteers[1:], late_leases, strict=True)))

        _assert_one_stored_one_refused(replies, task_id, answers=2)
        assert next(body for status, body in replies if status == 201)["is_late"] is True
        winners.add(next(index for index, (status, _) in enumerate(replies) if status == 201))
    print(f"winners of the {ROUNDS} races, by volunteer: {sorted(winners)}")


@pytest.mark.django_db(transaction=True)
def test_an_answer_does_not_wait_for_the_image_row_that_consensus_holds():
    """Consensus locks the image, then retires its task; an answer locks its lease, then the task. Were the answer
    to lock the image as well, a late answer and the consensus of the answer that filled the task would deadlock
    (they did: the loser got a 500, and after the fix to 503 handling a 503, instead of 409 lease_expired)."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks: PostgreSQL only (SQLite serialises whole transactions)")
    crisis = _crisis("image-row-locked", redundancy=1)
    (media,) = queue(crisis, eases=(0.9,), kinds=(GEO,))
    volunteer = make_user("answers-while-consensus-runs")
    lease = services.lease_grant(crisis=crisis, volunteer=volunteer, kind=GEO)
    # The answer's consensus runs when the outer block commits, once our lock is gone.
    with transaction.atomic(), database_connection() as consensus, consensus.transaction():
        consensus.execute("SELECT 1 FROM crawling_media WHERE id = %s FOR UPDATE", (media.pk,))
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '10s'")  # waiting on the image row fails the test
        answer = services.answer_submit(volunteer=volunteer, lease_id=lease.pk, **PIN)
    assert Answer.objects.filter(pk=answer.pk).exists()
