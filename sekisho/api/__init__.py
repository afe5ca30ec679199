"""The REST API at /api/v1 (django-ninja, OpenAPI 3.1): the console's services over HTTP."""
