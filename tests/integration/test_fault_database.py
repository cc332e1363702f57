"""PostgreSQL connections cut under a real server (gunicorn): requests fail cleanly and nothing is half written.

A request whose database backend is terminated (``pg_terminate_backend``, as a restart or failover would) gets
503 with Retry-After and the API's error shape, never a 500; its transaction is rolled back; the next request
reconnects and succeeds. Volunteers who retry after a 503 end with exactly one answer per lease.
"""

import threading
import time
from unittest import mock

import pytest
from django.db import InterfaceError, OperationalError, connection
from django.test import Client

from consensus.models import LocationConsensus
from consensus.services import crisis_consensus_refresh
from geoloc_platform.crises.services import crisis_transition
from geoloc_platform.exceptions import DATABASE_RETRY_AFTER_SECONDS
from tasks_app import services
from tasks_app.models import Answer, Assignment, CrowdTask
from tests.conftest import make_crisis, make_user
from tests.integration.conftest import wait_for
from tests.integration.fault_servers import (
    WEB_APPLICATION_NAME,
    WebServer,
    database_connection,
    http_call,
    volunteer_session,
)
from tests.tasks_app.conftest import queue

GEO = CrowdTask.Kind.GEOLOCATION
PIN = {"kind": GEO, "lat": -30.03, "lon": -51.22, "precision": "high"}


@pytest.fixture
def web(transactional_db, settings, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("cuts PostgreSQL backends: run on the production stack (DATABASE_URL=postgres://...)")
    server = WebServer(settings, tmp_path / "gunicorn.log")
    yield server
    server.stop()
    print(server.log_path.read_text()[-3000:])


@pytest.fixture
def crisis():
    crisis = make_crisis(slug="cut-floods", geolocation_redundancy=2)
    return crisis_transition(crisis=crisis, action="launch", user=None)


def _terminate_web_backends(admin, *, waiting_on_lock: bool = False) -> int:
    query = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s AND datname = %s"
    if waiting_on_lock:
        query += " AND wait_event_type = 'Lock'"
    return len(admin.execute(query, (WEB_APPLICATION_NAME, connection.settings_dict["NAME"])).fetchall())


def _cut_while_waiting(port: int, path: str, *, headers: dict, lock: tuple, body=None, method="POST"):
    """Send the request while a lock of ours holds it mid-transaction, terminate its backend, return the reply."""
    reply = {}
    with database_connection() as admin, database_connection() as locker:
        with locker.transaction():
            locker.execute(*lock)
            sender = threading.Thread(
                target=lambda: reply.update(result=http_call(port, path, headers=headers, body=body, method=method))
            )
            sender.start()
            wait_for(lambda: _terminate_web_backends(admin, waiting_on_lock=True), timeout=60, interval=0.05)
        sender.join(timeout=60)
    return reply["result"]


def _assert_database_unavailable(status, headers, body) -> None:
    assert status == 503, body
    assert headers["Retry-After"] == str(DATABASE_RETRY_AFTER_SECONDS)
    assert body["code"] == "database_unavailable" and body["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize("error", [OperationalError("server closed the connection"), InterfaceError("closed")])
def test_a_lost_connection_is_rendered_503_with_retry_after_on_any_database(error, crisis):
    """The rendering alone, on either database: the API's error shape, and the standalone page for pages."""
    volunteer = make_user("renders")
    client = Client(raise_request_exception=False)
    client.force_login(volunteer)
    with mock.patch("tasks_app.services.answer_submit", side_effect=error):
        response = client.post("/api/answers/", {"lease_id": 1, **PIN}, content_type="application/json")
    _assert_database_unavailable(response.status_code, response.headers, response.json())
    with mock.patch("tasks_app.views.crisis_for", side_effect=error):
        response = client.get(f"/crises/{crisis.slug}/work/")
    assert response.status_code == 503 and "Back in a moment" in response.text
    assert response.headers["Retry-After"] == str(DATABASE_RETRY_AFTER_SECONDS)
    # The page tries again by itself: a self-refreshing progress page survives the blip.
    assert f'<meta http-equiv="refresh" content="{DATABASE_RETRY_AFTER_SECONDS}">' in response.text


def test_an_answer_cut_mid_transaction_gets_503_writes_nothing_and_the_retry_succeeds(web, crisis):
    queue(crisis, eases=(0.9,), kinds=(GEO,))
    volunteer = make_user("cut-volunteer")
    headers = volunteer_session(volunteer)
    lease = services.lease_grant(crisis=crisis, volunteer=volunteer, kind=GEO)
    body = {"lease_id": lease.pk, **PIN}

    # answer_submit locks the lease row first: our lock holds the request inside its transaction, then we cut it.
    status, reply_headers, reply = _cut_while_waiting(
        web.port,
        "/api/answers/",
        headers=headers,
        body=body,
        lock=("SELECT 1 FROM tasks_app_assignment WHERE id = %s FOR UPDATE", (lease.pk,)),
    )
    _assert_database_unavailable(status, reply_headers, reply)
    task = CrowdTask.objects.get(pk=lease.task_id)
    assert not Answer.objects.exists()
    assert Assignment.objects.get(pk=lease.pk).state == Assignment.State.LEASED
    assert (task.slots_taken, task.answers_count) == (1, 0)

    status, _, reply = http_call(web.port, "/api/answers/", headers=headers, body=body)  # the client's retry
    assert status == 201, reply
    status, _, reply = http_call(web.port, "/api/answers/", headers=headers, body=body)  # and once more
    assert (status, reply["code"]) == (409, "already_answered")
    assert Answer.objects.filter(assignment_id=lease.pk).count() == 1
    assert CrowdTask.objects.get(pk=lease.task_id).answers_count == 1


def test_a_page_cut_mid_request_gets_the_503_page_and_the_reload_works(web, crisis):
    headers = volunteer_session(make_user("cut-reader"))
    path = f"/crises/{crisis.slug}/work/"
    status, reply_headers, page = _cut_while_waiting(
        web.port, path, headers=headers, method="GET", lock=("LOCK TABLE crises_crisis IN ACCESS EXCLUSIVE MODE",)
    )
    assert status == 503, page[:500]
    assert reply_headers["Retry-After"] == str(DATABASE_RETRY_AFTER_SECONDS)
    assert "Back in a moment" in page
    status, _, page = http_call(web.port, path, headers=headers, method="GET")
    assert status == 200
    assert crisis.name in page


def test_volunteers_who_retry_through_repeated_cuts_end_with_one_answer_per_lease(web, crisis):
    images = queue(crisis, eases=(0.9, 0.8, 0.7, 0.6, 0.5), kinds=(GEO,))
    sessions = [volunteer_session(make_user(f"cut-{index}")) for index in range(4)]
    seen: list[tuple[str, int, str]] = []  # (endpoint, status, code)
    errors: list[str] = []
    finished = threading.Event()
    lock = threading.Lock()

    def call_until_not_503(path: str, headers: dict, body: dict):
        while True:
            status, _, reply = http_call(web.port, path, headers=headers, body=body)
            code = reply.get("code", "") if isinstance(reply, dict) else ""
            with lock:
                seen.append((path, status, code))
            if status != 503:
                return status, reply, code
            time.sleep(0.1)  # a real client waits Retry-After; the test keeps it short

    def volunteer(headers: dict) -> None:
        try:
            while True:
                status, lease, _ = call_until_not_503(f"/api/crises/{crisis.slug}/tasks/next/", headers, {"kind": GEO})
                if status == 204:
                    return
                if status != 200:
                    raise AssertionError(f"next: {status} {lease}")
                answer = {"lease_id": lease["lease_id"], **PIN}
                status, reply, code = call_until_not_503("/api/answers/", headers, answer)
                # After a 503 the answer may have committed before the cut: the retry is then told so.
                if status != 201 and code != "already_answered":
                    raise AssertionError(f"answer: {status} {reply}")
        except BaseException as error:  # collected and asserted below
            with lock:
                errors.append(repr(error))

    def cutter() -> None:
        with database_connection() as admin:
            while not finished.wait(0.3):
                _terminate_web_backends(admin)

    cutting = threading.Thread(target=cutter)
    cutting.start()
    threads = [threading.Thread(target=volunteer, args=(headers,)) for headers in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    finished.set()
    cutting.join()

    unavailable = sum(status == 503 for _, status, _ in seen)
    print(f"{len(seen)} requests, {unavailable} answered 503 (database_unavailable), the retries succeeded")
    assert errors == []
    assert {status for _, status, _ in seen} <= {200, 201, 204, 409, 503}
    assert all(code == "database_unavailable" for _, status, code in seen if status == 503)
    for task in CrowdTask.objects.filter(media__in=images, kind=GEO):
        answered = Assignment.objects.filter(task=task, state=Assignment.State.ANSWERED).count()
        leased = Assignment.objects.filter(task=task, state=Assignment.State.LEASED).count()
        # Under adaptive redundancy a task asks for one pin and consensus raises its redundancy when that is not
        # enough; a cut can leave consensus behind (see below), and the volunteers may have stopped before it
        # reopened a task. What the cuts must never do: store an answer twice, lose one, or exceed the redundancy.
        assert Answer.objects.filter(task=task).count() == task.answers_count == answered >= 1
        assert task.slots_taken == answered + leased <= task.redundancy
    for answer in Answer.objects.select_related("assignment"):
        assert answer.assignment.state == Assignment.State.ANSWERED
        assert answer.assignment.volunteer_id == answer.volunteer_id
    # Consensus runs after its answer commits: a cut there leaves it behind the answers (never ahead of them, never
    # counting a rolled-back answer) until the periodic refresh, the documented safety net, catches up.
    answers_per_image = {media.pk: Answer.objects.filter(media=media).count() for media in images}
    behind = 0
    for consensus in LocationConsensus.objects.filter(media__in=images):
        assert consensus.n_answers <= answers_per_image[consensus.media_id]
        behind += consensus.n_answers < answers_per_image[consensus.media_id]
    crisis_consensus_refresh(crisis_id=crisis.pk)
    refreshed = dict(LocationConsensus.objects.filter(media__in=images).values_list("media_id", "n_answers"))
    assert refreshed == answers_per_image
    print(f"consensus rows behind their answers before the refresh: {behind} of {len(images)}")
