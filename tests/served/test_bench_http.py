"""bench/bench_http.py's flows against a real `sekisho serve`: both clients, every Sekisho flow.

The benchmark's figures mean something only if every unit it times is a complete, valid
exchange; this keeps its flows in step with the product (URLs, redirects, CSRF, TOTP).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import bench_http as bench
from tests.servers import served_database

SCENARIOS = {s.key: s for s in bench.SCENARIOS}
TOTP_USERS = [f"totp{i:04d}" for i in range(4)]


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[bench.SekishoInstallation, bench.Target]]:
    """The benchmark's own set-up (sekisho CLI), served with two workers."""
    with served_database() as database_url:
        root = Path(tmp_path_factory.mktemp("bench"))
        installation = bench.SekishoInstallation("sekisho", "Sekisho", root, database_url)
        installation.set_up(["agent1", "agent2", *TOTP_USERS])
        installation.start(workers=2)
        try:
            yield installation, bench.sekisho_target(installation)
        finally:
            installation.stop()


@pytest.mark.parametrize("client", ["python", "wrk"])
@pytest.mark.parametrize("scenario", ["sso", "signin", "sp-sso"])
def test_every_unit_is_a_valid_exchange(
    served: tuple[bench.SekishoInstallation, bench.Target],
    scenario: str,
    client: str,
    tmp_path: Path,
) -> None:
    _installation, target = served
    case = bench.Case(SCENARIOS[scenario], client, 2)
    result = bench.measure(target, case, 1.0, tmp_path)
    assert result["errors"] == 0, result.get("last_errors")
    assert result["units"] > 0
    assert result["validated"] == 2
    assert result["valid"] == 2, result["validation_errors"]
    assert result["server_cpu_s"] > 0  # the server's process tree was found and measured


def test_totp_codes_are_used_once_per_step_by_both_clients(
    served: tuple[bench.SekishoInstallation, bench.Target], tmp_path: Path
) -> None:
    installation, target = served
    installation.set_mfa("always")
    try:
        bench.register_totp_users(target, TOTP_USERS, threads=2)
        assert [u.name for u in target.totp_users] == TOTP_USERS
        # Registration used this step's codes: start at the next step.
        time.sleep(bench.TOTP_PERIOD - time.time() % bench.TOTP_PERIOD + 0.2)
        scenario = SCENARIOS["totp"]
        flow = target.flows[scenario.flow]
        # Python signs in one user per client (totp0000, totp0001); wrk then has only the
        # other two, once each, and waits for the next step instead of reusing a code.
        bench.first_units(target.base, flow, bench.prepare_workers(target, scenario, 2))
        step = bench.time_step(time.time())
        result = bench.measure(target, bench.Case(scenario, "wrk", 2), 2.0, tmp_path)
    finally:
        installation.set_mfa("disabled")
    assert bench.time_step(time.time()) == step, "the run crossed a 30-second step"
    assert result["errors"] == 0, result.get("last_errors")
    assert result["units"] <= 2
    assert result["valid"] == result["validated"] == result["units"], result["validation_errors"]
    assert all(user.last_step == step for user in target.totp_users[:2])
