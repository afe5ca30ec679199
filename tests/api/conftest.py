"""Fixtures for the REST API: tokens of each role and a client that sends them."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from sekisho.admin import roles, tokens
from sekisho.audit.writer import Actor


class ApiClient:
    """Django's test client with a bearer token and JSON bodies."""

    def __init__(self, token: str | None) -> None:
        self.client = Client()
        self.token = token

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.token is not None:
            headers.setdefault("authorization", f"Bearer {self.token}")
        return headers

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        query: dict[str, Any] | None = None,
    ) -> Any:
        url = "/api/v1" + path
        kwargs: dict[str, Any] = {"headers": self._headers(headers)}
        if body is not None:
            kwargs["data"] = json.dumps(body)
            kwargs["content_type"] = "application/json"
        if query:
            kwargs.setdefault("QUERY_STRING", "")
            from urllib.parse import urlencode

            url += "?" + urlencode(query)
        return getattr(self.client, method.lower())(url, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.call("POST", path, body if body is not None else {}, **kwargs)

    def put(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.call("PUT", path, body, **kwargs)

    def patch(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.call("PATCH", path, body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.call("DELETE", path, **kwargs)


@pytest.fixture
def api_as(db: None, actor: Actor) -> Callable[[str], ApiClient]:
    """A client holding a fresh token of the given role."""
    made: dict[str, ApiClient] = {}

    def make(role: str) -> ApiClient:
        if role not in made:
            issued = tokens.create(f"test-{role}", roles.Role(role), expires_days=None, actor=actor)
            made[role] = ApiClient(issued.value)
        return made[role]

    return make


@pytest.fixture
def admin_api(api_as: Callable[[str], ApiClient]) -> ApiClient:
    """A client with an admin token."""
    return api_as("admin")
