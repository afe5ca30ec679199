"""WSGI entry point (sekisho/asgi.py runs it behind granian; any WSGI server can too)."""

import os

from django.core.wsgi import get_wsgi_application

from sekisho.instance import restrict_umask

# Workers create the SQLite -wal/-shm files and sessions live in that database: owner-only
# even when a WSGI server is started by hand rather than by `sekisho serve`.
restrict_umask()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sekisho.settings")
application = get_wsgi_application()
