"""WSGI entry point (gunicorn geoloc_platform.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geoloc_platform.settings")
application = get_wsgi_application()
