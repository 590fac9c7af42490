"""WSGI entry point (gunicorn crm_site.wsgi:application)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_site.settings")

django_application = get_wsgi_application()

from crm_site import lanes  # noqa: E402 - after Django is set up

# The lanes (crm_site.lanes) answer a few hot requests before Django's handling.
application = lanes.wrap(django_application)
