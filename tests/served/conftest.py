"""Fixtures for tests against real `sekisho serve` processes, on SQLite or PostgreSQL.

These tests never touch the pytest-django database. Each module gets its own installation
(a data directory, and a fresh PostgreSQL database when the suite runs on PostgreSQL),
set up with the `sekisho` CLI as an operator would, and served by `sekisho serve` on loopback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.radius.conftest import freeradius  # noqa: F401 - the session's FreeRADIUS
from tests.served.client import Browser
from tests.servers import Instance, served_instance

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    """An initialised installation with one node of two workers."""
    with served_instance(Path(tmp_path_factory.mktemp("served"))) as made:
        made.start(workers=2)
        yield made


def make_user(instance: Instance, username: str, password: str = PASSWORD) -> str:
    """`sekisho user create` with the password on stdin; returns the username."""
    instance.cli(
        "user",
        "create",
        username,
        "--email",
        f"{username}@example.com",
        "--password-stdin",
        stdin=password + "\n",
    )
    return username


def browser(instance: Instance, node: int = 0, *, source_ip: str | None = None) -> Browser:
    """A fresh browser pointed at one node of the instance."""
    return Browser(instance.nodes[node].url, origin=instance.base_url, source_ip=source_ip)
