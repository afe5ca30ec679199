"""Operations against a real `sekisho serve --workers 2` (gunicorn) on a free loopback port.

Two clients sign in at once (each attempt costs an argon2 verification, so both workers
are busy), then one scrape of /metrics must count every attempt: each worker writes its
own counter files, and the test reads each worker's files alone to prove both
contributed. The server runs with SEKISHO_LOG_FORMAT=json: every line it writes must be
one JSON object, with no password, token or cookie in any of them.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlencode

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.servers import free_port, stop_process_group

REPO = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 60.0
BAD_PASSWORD = "nope-nope-nope-42"
_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_COUNTER_FILE = re.compile(r"^counter_(\d+)\.db$")
FAILED = {"result": "failure", "reason": "unknown_user"}


class Server(NamedTuple):
    port: int
    data: Path
    log: Path


def _request(
    port: int,
    method: str,
    path: str,
    *,
    body: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    # http.client connects straight to loopback: no proxy from the environment is consulted.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("sekisho-ops")
    log = root / "serve.log"
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "PROMETHEUS_MULTIPROC_DIR")
        and not key.lower().endswith("_proxy")
    }
    env.update(
        SEKISHO_DATA=str(root / "data"),
        SEKISHO_BASE_URL=f"http://127.0.0.1:{port}",
        SEKISHO_LOG_FORMAT="json",
        PYTHONUNBUFFERED="1",
    )
    argv = [sys.executable, "-m", "sekisho.cli.main", "serve", "--host", "127.0.0.1"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*argv, "--port", str(port), "--workers", "2"],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"`sekisho serve` exited ({proc.returncode}):\n{log.read_text()}")
            try:
                if _request(port, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"`sekisho serve` did not answer in time:\n{log.read_text()}")
            time.sleep(0.2)
        yield Server(port=port, data=root / "data", log=log)
    finally:
        stop_process_group(proc)


def _failed_sign_in(port: int, username: str) -> None:
    status, headers, page = _request(port, "GET", "/signin")
    assert status == 200
    # The CSRF cookie is Secure; over loopback HTTP the client sends it back by hand.
    cookie = headers["set-cookie"].split(";", 1)[0]
    match = _TOKEN.search(page.decode())
    assert match is not None and cookie.startswith("sekisho_csrf=")
    form = {"csrfmiddlewaretoken": match.group(1), "username": username, "password": BAD_PASSWORD}
    status, _, _ = _request(
        port,
        "POST",
        "/signin",
        body=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
    )
    assert status == 401


def _worker_pids(metrics_dir: Path) -> set[int]:
    return {int(m.group(1)) for p in metrics_dir.iterdir() if (m := _COUNTER_FILE.match(p.name))}


def _one_worker(metrics_dir: Path, pid: int, scratch: Path) -> float:
    """Sign-in failures counted by one worker alone: its files, collected on their own."""
    alone = scratch / str(pid)
    alone.mkdir()
    for path in metrics_dir.glob(f"*_{pid}.db"):
        shutil.copy(path, alone / path.name)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(alone))
    return registry.get_sample_value("sekisho_signins_total", FAILED) or 0.0


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, headers, body = _request(port, "GET", "/metrics")
    assert status == 200
    assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def test_one_scrape_sums_the_counters_of_both_workers(server: Server, tmp_path: Path) -> None:
    metrics_dir = server.data / "metrics"
    assert (metrics_dir.stat().st_mode & 0o777) == 0o700
    attempts = 0
    errors: list[BaseException] = []

    def sign_in_several(names: list[str]) -> None:
        try:
            for name in names:
                _failed_sign_in(server.port, name)
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)

    for round_ in range(3):  # two clients at once keep both workers busy; rarely needs more
        threads = [
            threading.Thread(
                target=sign_in_several, args=([f"ghost-{round_}-{t}-{i}" for i in range(3)],)
            )
            for t in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors, errors
        attempts += 6
        if len(_worker_pids(metrics_dir)) >= 2:
            break
    pids = _worker_pids(metrics_dir)
    assert len(pids) >= 2, f"one worker served everything: {sorted(pids)}"

    samples = _scrape(server.port)
    failed = samples[("sekisho_signins_total", tuple(sorted(FAILED.items())))]
    posts = samples[
        (
            "sekisho_http_requests_total",
            (("method", "POST"), ("route", "/signin"), ("status", "401")),
        )
    ]
    per_worker = {pid: _one_worker(metrics_dir, pid, tmp_path) for pid in pids}
    assert failed == posts == attempts
    assert sum(per_worker.values()) == attempts
    assert sum(1 for value in per_worker.values() if value > 0) >= 2, per_worker


def test_probes_answer_plainly_and_set_no_cookie(server: Server) -> None:
    for path, body in (("/healthz", b"ok\n"), ("/readyz", b"ready\n")):
        status, headers, content = _request(server.port, "GET", path)
        assert (status, content) == (200, body)
        assert headers["cache-control"] == "no-store" and "set-cookie" not in headers
        status, _, content = _request(server.port, "HEAD", path)
        assert (status, content) == (200, b"")


def test_every_log_line_is_json_and_none_has_a_secret(server: Server) -> None:
    _failed_sign_in(server.port, "ghost-log")
    lines: list[dict[str, object]] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = server.log.read_text()
        lines = [json.loads(line) for line in text.splitlines() if line.strip()]
        if any(line.get("route") == "/signin" and line.get("status") == 401 for line in lines):
            break
        time.sleep(0.2)
    loggers = defaultdict(int)
    for line in lines:
        assert {"time", "level", "logger", "message"} <= set(line), line
        loggers[str(line["logger"])] += 1
    assert loggers["gunicorn.error"] >= 1  # the server's own lines are JSON too
    requests = [line for line in lines if line["logger"] == "sekisho.request"]
    post = next(r for r in requests if r.get("route") == "/signin" and r.get("method") == "POST")
    assert post["status"] == 401 and isinstance(post["duration_ms"], float)
    assert post["client_ip"] == "127.0.0.1"
    text = server.log.read_text()
    for secret in (BAD_PASSWORD, "csrfmiddlewaretoken", "sekisho_csrf="):
        assert secret not in text
