"""URLs of the live map, its API, exports and the coordinator dashboard."""

from django.urls import path

from mapping import apis, views

app_name = "mapping"

urlpatterns = [
    path("map/", views.map_page, name="map"),
    path("map/media/<int:media_id>/image/", views.media_image, name="media-image"),
    path("map/media/lease/<str:token>/", views.lease_image, name="lease-image"),
    path("crises/<slug:slug>/map/", views.crisis_map, name="crisis-map"),
    path("crises/<slug:slug>/dashboard/", views.dashboard_page, name="dashboard"),
    path("api/map/features/", apis.MapFeaturesApi.as_view(), name="api-features"),
    path("api/map/guesses/", apis.MapGuessesApi.as_view(), name="api-guesses"),
    path("api/map/crises/<slug:slug>/export/<str:fmt>/", apis.MapExportApi.as_view(), name="api-export"),
    path("api/map/crises/<slug:slug>/dashboard/", apis.DashboardApi.as_view(), name="api-dashboard"),
]
