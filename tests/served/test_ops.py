"""Operations against real `sekisho serve` nodes, on SQLite or PostgreSQL.

Two browsers sign in at once on a node of two workers (each attempt costs an argon2
verification, so both workers are busy); one scrape of /metrics must count every attempt,
and reading each worker's counter files alone proves both contributed. A second node on
the same installation counts only its own requests and leaves the first node's counters
alone. The first node logs as JSON: every line it writes must be one JSON object, and no
password, token or cookie may appear in any of them.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.served.client import Browser
from tests.servers import Instance, Node, served_instance

BAD_PASSWORD = "nope-nope-nope-42"
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
_COUNTER_FILE = re.compile(r"^counter_(\d+)\.db$")
FAILED = {"result": "failure", "reason": "unknown_user"}
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    """One node of two workers logging JSON."""
    with served_instance(Path(tmp_path_factory.mktemp("served-ops"))) as made:
        made.start(workers=2, environ={"SEKISHO_LOG_FORMAT": "json"})
        yield made


def _direct() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # loopback only: never through a proxy
    return session


def _failed_sign_in(instance: Instance, node: Node, username: str) -> None:
    browser = Browser(node.url, origin=instance.base_url)
    response = browser.post(
        "/signin", {"username": username, "password": BAD_PASSWORD}, page="/signin"
    )
    assert response.status_code == 401, response.text[:300]


def _metrics_dir(instance: Instance, node: Node) -> Path:
    return instance.data / "metrics" / f"127.0.0.1_{node.port}"


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


def _scrape(node: Node) -> Samples:
    response = _direct().get(f"{node.url}/metrics", timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == PROMETHEUS_TEXT
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_one_scrape_sums_the_counters_of_both_workers(instance: Instance, tmp_path: Path) -> None:
    node = instance.nodes[0]
    metrics_dir = _metrics_dir(instance, node)
    assert (metrics_dir.stat().st_mode & 0o777) == 0o700
    attempts = 0
    errors: list[BaseException] = []

    def sign_in_several(names: list[str]) -> None:
        try:
            for name in names:
                _failed_sign_in(instance, node, name)
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)

    # Two clients at once keep both workers busy; a second round is rarely needed (on a
    # loaded machine one worker may take a whole round). Until both workers have counted a
    # sign-in, not merely made their files. The address throttle (20 failures) bounds the
    # attempts: 16 at most here.
    for round_ in range(4):
        names = [[f"ghost-{round_}-{t}-{i}" for i in range(2)] for t in range(2)]
        threads = [threading.Thread(target=sign_in_several, args=(n,)) for n in names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors, errors
        attempts += 4
        scratch = tmp_path / f"round-{round_}"
        scratch.mkdir()
        pids = _worker_pids(metrics_dir)
        per_worker = {pid: _one_worker(metrics_dir, pid, scratch) for pid in pids}
        if sum(1 for value in per_worker.values() if value > 0) >= 2:
            break
    assert len(pids) >= 2, f"one worker served everything: {sorted(pids)}"

    samples = _scrape(node)
    assert _value(samples, "sekisho_signins_total", **FAILED) == attempts
    posts = {"method": "POST", "route": "/signin", "status": "401"}
    assert _value(samples, "sekisho_http_requests_total", **posts) == attempts
    assert sum(per_worker.values()) == attempts
    assert sum(1 for value in per_worker.values() if value > 0) >= 2, per_worker


def test_each_node_counts_its_own_requests(instance: Instance) -> None:
    a = instance.nodes[0]
    before_a = _value(
        _scrape(a), "sekisho_http_requests_total", route="/signin", method="GET", status="200"
    )
    # On SQLite the second node shares the data directory: it must not empty A's counters.
    b = instance.start(workers=1, data=instance.node_data("node-b"))
    try:
        for _ in range(3):
            assert _direct().get(f"{b.url}/signin", timeout=30).status_code == 200
        signin_get = {"route": "/signin", "method": "GET", "status": "200"}
        assert _value(_scrape(b), "sekisho_http_requests_total", **signin_get) == 3
        assert _value(_scrape(a), "sekisho_http_requests_total", **signin_get) == before_a
        assert _metrics_dir(instance, a).is_dir() and _worker_pids(_metrics_dir(instance, a))
    finally:
        b.stop()
        instance.nodes.remove(b)


def test_probes_answer_plainly_and_set_no_cookie(instance: Instance) -> None:
    session = _direct()
    url = instance.nodes[0].url
    for path, body in (("/healthz", b"ok\n"), ("/readyz", b"ready\n")):
        response = session.get(url + path, timeout=30)
        assert (response.status_code, response.content) == (200, body)
        assert response.headers["Cache-Control"] == "no-store"
        assert "Set-Cookie" not in response.headers
        head = session.head(url + path, timeout=30)
        assert (head.status_code, head.content) == (200, b"")


def test_every_log_line_is_json_and_none_has_a_secret(instance: Instance) -> None:
    node = instance.nodes[0]
    _failed_sign_in(instance, node, "ghost-log")
    lines: list[dict[str, object]] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = [json.loads(line) for line in node.log.read_text().splitlines() if line.strip()]
        if any(line.get("route") == "/signin" and line.get("method") == "POST" for line in lines):
            break
        time.sleep(0.2)
    for line in lines:
        assert {"time", "level", "logger", "message", "pid"} <= set(line), line
    assert any(line["logger"] == "_granian" for line in lines)  # the server's own too
    post = next(
        line
        for line in lines
        if line["logger"] == "sekisho.request" and line.get("method") == "POST"
    )
    assert post["route"] == "/signin" and post["status"] == 401
    assert isinstance(post["duration_ms"], float) and post["client_ip"] == "127.0.0.1"
    text = node.log.read_text()
    for secret in (BAD_PASSWORD, "csrfmiddlewaretoken", "sekisho_csrf=", "sekisho_session="):
        assert secret not in text
