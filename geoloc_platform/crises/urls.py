from django.urls import path

from geoloc_platform.crises import views

app_name = "crises"

urlpatterns = [
    path("", views.crisis_list, name="list"),
    path("crises/<slug:slug>/", views.crisis_detail, name="detail"),
]
