from django.urls import path

from tasks_app import apis, views

app_name = "tasks_app"

urlpatterns = [
    path("crises/<slug:slug>/work/", views.crisis_work, name="work"),
    path("crises/<slug:slug>/rate/", views.task_page, {"kind": "rating"}, name="rate"),
    path("crises/<slug:slug>/geolocate/", views.task_page, {"kind": "geolocation"}, name="geolocate"),
    path("crises/<slug:slug>/review/", views.task_page, {"kind": "review"}, name="review"),
    path("crises/<slug:slug>/verify/", views.task_page, {"kind": "verification"}, name="verify"),
    path("api/crises/<slug:slug>/tasks/next/", apis.TaskNextApi.as_view(), name="api-task-next"),
    path("api/crises/<slug:slug>/progress/", apis.ProgressApi.as_view(), name="api-progress"),
    path("api/crises/<slug:slug>/leaderboard/", apis.LeaderboardApi.as_view(), name="api-leaderboard"),
    path("api/crises/<slug:slug>/places/", apis.PlaceSearchApi.as_view(), name="api-places"),
    path("api/answers/", apis.AnswerSubmitApi.as_view(), name="api-answer-submit"),
    path("api/answers/<int:answer_id>/others/", apis.AnswerOthersApi.as_view(), name="api-answer-others"),
    path("api/leases/<int:lease_id>/heartbeat/", apis.LeaseHeartbeatApi.as_view(), name="api-lease-heartbeat"),
    path("api/leases/<int:lease_id>/skip/", apis.LeaseSkipApi.as_view(), name="api-lease-skip"),
]
