"""WSGI entry point for Omni's web processes."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omni.settings")
application = get_wsgi_application()
