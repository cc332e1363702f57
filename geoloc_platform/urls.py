"""Top-level URLs."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from geoloc_platform.protected_media import stored_file
from geoloc_platform.views import FaviconRedirect

urlpatterns = [
    path("", include("geoloc_platform.crises.urls")),
    path("", include("tasks_app.urls")),
    path("", include("mapping.urls")),
    path("accounts/", include("geoloc_platform.accounts.urls")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file of its own: the CSP allows no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("i18n/", include("django.conf.urls.i18n")),
    # Browsers ask for /favicon.ico on pages that name no icon (the admin's, the API docs).
    path("favicon.ico", FaviconRedirect.as_view(), name="favicon"),
]

# Stored images have no public URL: MEDIA_URL is a view that checks who asks (geoloc_platform/protected_media.py).
urlpatterns.append(re_path(r"^media/(?P<path>.+)$", stored_file, name="stored-file"))

# A lost database connection answers 503 with Retry-After instead of 500 (geoloc_platform/views.py).
handler500 = "geoloc_platform.views.server_error"

admin.site.site_header = "Disaster image geolocation"
admin.site.site_title = "Geolocation admin"
