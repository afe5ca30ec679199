"""WSGI entry point (sekisho/asgi.py runs it behind granian; any WSGI server can too)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sekisho.settings")
application = get_wsgi_application()
