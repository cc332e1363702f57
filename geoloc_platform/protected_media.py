"""Stored images reach people only through a permission check; the bytes then come from nginx or from Django.

Nothing under ``MEDIA_ROOT`` has a public URL. Each view that shows an image decides who may see it (the map's
images, a volunteer's lease image, the admin's links) and answers with ``stored_file_response``:

- production (``MEDIA_ACCEL_REDIRECT`` set, nginx in front): an empty response with ``X-Accel-Redirect``, and nginx
  sends the file from an ``internal`` location that no client can request itself (deploy/nginx.conf);
- embedded default (no front server): Django streams the file.

``stored_file`` is the view behind ``MEDIA_URL``, so every ``FieldFile.url`` of the project (the admin's links to
an image, a model version's training curves) lands on a check too: it finds the row that owns the file and asks
that row's rule. A file no rule claims (the ``originals/`` kept with their EXIF data, anything else) is a 404.
"""

import mimetypes
from collections.abc import Callable
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse

Person = AbstractBaseUser | AnonymousUser


def stored_file_response(*, name: str, content_type: str, cache_control: str = "private, no-cache") -> HttpResponse:
    """The stored file ``name`` (relative to MEDIA_ROOT), for a caller that has already checked permission."""
    if not content_type.startswith("image/"):
        # Only images are shown; anything else is downloaded, never rendered in the site's origin.
        content_type = "application/octet-stream"
    if settings.MEDIA_ACCEL_REDIRECT:
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = settings.MEDIA_ACCEL_REDIRECT + quote(name)
    else:
        try:
            response = FileResponse(default_storage.open(name, "rb"), content_type=content_type)
        except (FileNotFoundError, IsADirectoryError) as error:
            raise Http404("No such image.") from error
    if content_type == "application/octet-stream":
        response["Content-Disposition"] = "attachment"
    response["Cache-Control"] = cache_control
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _crawled_image_allowed(user: Person, name: str) -> bool:
    from crawling.models import Media
    from geoloc_platform.crises.selectors import user_can_view_private_map

    media = Media.objects.select_related("crisis").filter(image=name).first()
    return media is not None and user_can_view_private_map(user=user, crisis=media.crisis)


def _blurred_image_allowed(user: Person, name: str) -> bool:
    from geoloc_platform.crises.selectors import user_can_view_private_map
    from mapping.models import BlurredImage

    blurred = BlurredImage.objects.select_related("media__crisis").filter(image=name).first()
    return blurred is not None and user_can_view_private_map(user=user, crisis=blurred.media.crisis)


def _training_curves_allowed(user: Person, name: str) -> bool:
    from classification.models import ModelVersion

    return (
        user.is_authenticated
        and user.is_staff
        and user.has_perm("classification.view_modelversion")
        and ModelVersion.objects.filter(curves=name).exists()
    )


# Folder under MEDIA_ROOT -> who may open a file in it through its ``.url``. The map's images and volunteers'
# lease images have routes of their own (mapping/views.py); these links serve the crisis's responders and
# coordinators (the admin) and staff who may see model versions.
STORED_FILE_RULES: dict[str, Callable[[Person, str], bool]] = {
    "media/": _crawled_image_allowed,
    "blurred/": _blurred_image_allowed,
    "models/": _training_curves_allowed,
}


def stored_file(request: HttpRequest, path: str) -> HttpResponse:
    """MEDIA_URL: a stored file for whoever the rule of its folder allows; 404 for everyone else."""
    rule = next((rule for folder, rule in STORED_FILE_RULES.items() if path.startswith(folder)), None)
    if rule is None or ".." in path.split("/") or not rule(request.user, path):
        raise Http404("No such file.")
    content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    return stored_file_response(name=path, content_type=content_type)
