"""Slow clients cannot starve a served Sekisho (issue 9, finding 2).

256 connections from one client (127.0.0.2) send their headers, or their body, a few
bytes at a time, while normal requests from another address must keep their p99 under a
second. Four such sockets used to stop gunicorn's sync workers for 45 seconds. Bounded
in time: each attack lasts a little longer than the server's 10-second timeouts.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from sekisho.serving import HEADER_TIMEOUT_MS
from tests.served.conftest import PASSWORD, make_user
from tests.servers import Instance, served_instance

ATTACKERS = 256
ATTACK_SECONDS = HEADER_TIMEOUT_MS / 1000 + 3
TRICKLE_SECONDS = 2.0


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    with served_instance(Path(tmp_path_factory.mktemp("slow"))) as made:
        made.start(workers=2)
        make_user(made, "ueda")
        made.cli("mfa", "configure", "--mode", "disabled")
        yield made


class Attack:
    """Slow connections in a thread of their own: what each saw of the server."""

    def __init__(self, port: int, mode: str) -> None:
        self.port = port
        self.mode = mode
        self.closed_after: list[float] = []
        self.answers: list[bytes] = []
        self.opened = 0
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _one(self) -> None:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", self.port, local_addr=("127.0.0.2", 0)
        )
        self.opened += 1
        started = time.monotonic()
        if self.mode == "headers":
            writer.write(b"GET /signin HTTP/1.1\r\nHost: localhost\r\n")
        else:
            writer.write(
                b"POST /saml/sso HTTP/1.1\r\nHost: localhost\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n"
                b"Content-Length: 100000\r\n\r\nSAMLRequest="
            )
        try:
            while time.monotonic() - started < ATTACK_SECONDS:
                await writer.drain()
                try:
                    data = await asyncio.wait_for(reader.read(4096), TRICKLE_SECONDS)
                except TimeoutError:
                    writer.write(b"X-Slow: 1\r\n" if self.mode == "headers" else b"AAAA")
                    continue
                if data:
                    self.answers.append(data.split(b"\r\n", 1)[0])
                self.closed_after.append(time.monotonic() - started)
                return
        except (ConnectionError, OSError):
            self.closed_after.append(time.monotonic() - started)
        finally:
            writer.close()

    async def _run(self) -> None:
        await asyncio.gather(*(self._one() for _ in range(ATTACKERS)), return_exceptions=True)


def _probe(url: str, cookies: dict[str, str], until: float) -> tuple[list[float], list[str]]:
    """Normal requests, one at a time on new connections: latencies and failures."""
    latencies: list[float] = []
    failures: list[str] = []
    with requests.Session() as session:
        session.trust_env = False
        while time.monotonic() < until:
            for path in ("/signin", "/apps"):
                started = time.perf_counter()
                try:
                    response = session.get(
                        url + path,
                        cookies=cookies if path == "/apps" else None,
                        headers={"Connection": "close"},
                        allow_redirects=False,
                        timeout=5,
                    )
                    if response.status_code != 200:
                        failures.append(f"{path}: {response.status_code}")
                except requests.RequestException as exc:
                    failures.append(f"{path}: {type(exc).__name__}")
                latencies.append(time.perf_counter() - started)
            time.sleep(0.05)
    return latencies, failures


def _signed_in(url: str) -> dict[str, str]:
    from tests.served.client import Browser

    browser = Browser(url, origin=url)
    assert browser.password("ueda", PASSWORD) == "/apps"
    return {cookie.name: str(cookie.value) for cookie in browser.session.cookies}


@pytest.mark.parametrize("mode", ["headers", "body"])
def test_normal_requests_stay_fast_while_256_clients_trickle(instance: Instance, mode: str) -> None:
    node = instance.nodes[0]
    cookies = _signed_in(node.url)
    attack = Attack(node.port, mode)
    attack.thread.start()
    deadline = time.monotonic() + 2
    while attack.opened < ATTACKERS and time.monotonic() < deadline:
        time.sleep(0.05)
    latencies, failures = _probe(node.url, cookies, time.monotonic() + ATTACK_SECONDS - 1)
    attack.thread.join(timeout=ATTACK_SECONDS + 10)
    assert attack.opened == ATTACKERS
    assert failures == []
    p99 = statistics.quantiles(latencies, n=100)[98]
    assert len(latencies) >= 40 and p99 < 1.0, (len(latencies), p99)
    # The server ends every slow connection by itself, soon after its timeout.
    timeout = HEADER_TIMEOUT_MS / 1000
    assert len(attack.closed_after) == ATTACKERS, len(attack.closed_after)
    assert all(timeout - 1 <= seconds <= timeout + 2.5 for seconds in attack.closed_after)
    if mode == "body":
        assert set(attack.answers) == {b"HTTP/1.1 408 Request Timeout"}
