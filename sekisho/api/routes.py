"""The API's URL patterns: every router on the one NinjaAPI instance."""

from sekisho.api import catalog, system, users
from sekisho.api.core import api

api.add_router("", users.router)
api.add_router("", catalog.router)
api.add_router("", system.router)

urls = api.urls
