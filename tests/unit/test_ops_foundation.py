"""Operations in the foundation: SEKISHO_METRICS_ALLOW and SEKISHO_LOG_FORMAT, JSON log
lines, and what the server's launcher prepares (sekisho.serving)."""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from sekisho import serving
from sekisho.config import load_config
from sekisho.errors import ConfigError
from sekisho.logs import JsonFormatter, formatter_config

REPO = Path(__file__).resolve().parents[2]

# --- configuration ----------------------------------------------------------------------


def test_metrics_are_for_this_machine_by_default() -> None:
    config = load_config({})
    assert config.metrics_allow == (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
    assert load_config({"SEKISHO_METRICS_ALLOW": "  "}).metrics_allow == config.metrics_allow


def test_metrics_allow_takes_commas_and_spaces() -> None:
    config = load_config({"SEKISHO_METRICS_ALLOW": "10.1.2.0/24, 2001:db8::/64 192.0.2.7"})
    assert [str(n) for n in config.metrics_allow] == [
        "10.1.2.0/24",
        "2001:db8::/64",
        "192.0.2.7/32",
    ]


@pytest.mark.parametrize("raw", ["10.0.0.0/33", "prometheus.internal", "10.0.0.1/8"])
def test_a_malformed_metrics_allow_is_one_line_naming_it(raw: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config({"SEKISHO_METRICS_ALLOW": raw})
    assert info.value.message.startswith("SEKISHO_METRICS_ALLOW: ")
    assert "\n" not in info.value.message


def test_log_format_is_plain_or_json() -> None:
    assert load_config({}).log_format == "plain"
    assert load_config({"SEKISHO_LOG_FORMAT": " JSON "}).log_format == "json"
    with pytest.raises(ConfigError) as info:
        load_config({"SEKISHO_LOG_FORMAT": "xml"})
    assert info.value.message == "SEKISHO_LOG_FORMAT must be plain or json, got 'xml'"


@pytest.mark.parametrize(
    ("name", "value"), [("SEKISHO_METRICS_ALLOW", "everyone"), ("SEKISHO_LOG_FORMAT", "yaml")]
)
def test_the_cli_stops_on_a_malformed_value_with_one_line(
    name: str, value: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(SEKISHO_DATA=str(tmp_path / "data"), **{name: value})
    done = subprocess.run(
        [sys.executable, "-m", "sekisho.cli.main", "serve", "--port", "1"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0], done.stderr
    assert "Traceback" not in done.stderr


# --- JSON log lines ---------------------------------------------------------------------


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord(
        "sekisho.request", logging.INFO, __file__, 1, "%s %s", ("GET", "/signin"), None
    )
    record.__dict__.update(extra)
    return record


def test_a_json_line_has_time_level_logger_message_and_request_fields() -> None:
    line = JsonFormatter().format(
        _record(
            method="GET",
            route="/signin",
            status=200,
            duration_ms=1.5,
            request_id="abc-1",
            client_ip="203.0.113.9",
            cookie="sekisho_session=secret",  # not a request field: never written
        )
    )
    assert "\n" not in line
    data = json.loads(line)
    assert data["level"] == "INFO" and data["logger"] == "sekisho.request"
    assert data["message"] == "GET /signin"
    assert data["time"].endswith("+00:00")
    assert (data["method"], data["route"], data["status"]) == ("GET", "/signin", 200)
    assert data["duration_ms"] == 1.5 and data["request_id"] == "abc-1"
    assert "cookie" not in data and "secret" not in line


def test_a_json_line_carries_an_exception_on_one_line() -> None:
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        record = logging.LogRecord(
            "django.request", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert "ValueError: boom" in json.loads(line)["exception"]


def test_formatter_config_picks_the_format() -> None:
    assert formatter_config("json") == {"()": "sekisho.logs.JsonFormatter"}
    assert "format" in formatter_config("plain")


# --- the server command and what its launcher prepares ------------------------------------


def test_the_server_is_granian_in_front_of_sekishos_asgi_guard() -> None:
    argv = serving.server_command(host="127.0.0.1", port=8000, workers=2)
    assert argv[1:3] == ["-m", "granian"] and argv[-1] == "sekisho.asgi:application"
    assert argv[argv.index("--interface") + 1] == "asgi"
    assert argv[argv.index("--loop") + 1] == "uvloop"  # a dependency, never left to "auto"
    assert argv[argv.index("--workers") + 1] == "2"
    # Slow headers are dropped by granian; the access log is Sekisho's own (no query string).
    assert argv[argv.index("--http1-header-read-timeout") + 1] == str(serving.HEADER_TIMEOUT_MS)
    assert "--no-access-log" in argv and "--log-config" not in argv


def test_json_logs_give_granian_a_logging_config(tmp_path: Path) -> None:
    argv = serving.server_command(
        host="::1", port=8000, workers=1, log_config=tmp_path / "logging.json"
    )
    assert argv[argv.index("--host") + 1] == "::1"
    assert argv[argv.index("--log-config") + 1] == str(tmp_path / "logging.json")
    config = serving.granian_logging()
    assert config["formatters"]["json"] == {"()": "sekisho.logs.JsonFormatter"}
    assert config["loggers"]["granian.access"]["handlers"] == []


def test_the_launcher_prepares_metrics_and_json_logging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(serving.MULTIPROC_ENV, "restored after the test")
    assert serving.prepare_server(tmp_path, host="127.0.0.1", port=8123, log_format="plain") is None
    path = tmp_path / "metrics" / "127.0.0.1_8123"
    assert os.environ[serving.MULTIPROC_ENV] == str(path) and path.is_dir()
    log_config = serving.prepare_server(tmp_path, host="127.0.0.1", port=8123, log_format="json")
    assert log_config is not None and stat.S_IMODE(log_config.stat().st_mode) == 0o600
    assert json.loads(log_config.read_text()) == serving.granian_logging()


def test_each_server_has_its_own_metrics_directory_named_by_its_address(tmp_path: Path) -> None:
    assert serving.metrics_dir(tmp_path, ["127.0.0.1:8000"]) == tmp_path / "metrics/127.0.0.1_8000"
    assert serving.metrics_dir(tmp_path, ["[::1]:8000", "unix:/run/s.sock"]) == (
        tmp_path / "metrics/___1__8000+unix__run_s.sock"
    )


def test_the_metrics_directory_is_owner_only_and_emptied_of_counters(tmp_path: Path) -> None:
    path = tmp_path / "metrics" / "127.0.0.1_8000"
    path.mkdir(parents=True, mode=0o755)
    (path / "counter_123.db").write_bytes(b"old")
    (path / "notes.txt").write_text("kept")
    other = tmp_path / "metrics" / "127.0.0.1_8001"  # another server on this data directory
    other.mkdir()
    (other / "counter_456.db").write_bytes(b"theirs")
    assert serving.prepare_metrics_dir(path) == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert sorted(p.name for p in path.iterdir()) == ["notes.txt"]
    assert (other / "counter_456.db").exists()


def test_a_metrics_path_that_is_not_a_directory_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "metrics").write_text("a file")
    with pytest.raises(ConfigError) as info:
        serving.prepare_metrics_dir(tmp_path / "metrics" / "x")
    assert "metrics directory" in info.value.message and "\n" not in info.value.message


def test_a_metrics_directory_that_cannot_be_made_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "metrics").write_text("a file")
    monkeypatch.setenv(serving.MULTIPROC_ENV, "restored after the test")
    with pytest.raises(ConfigError) as info:
        serving.prepare_server(tmp_path, host="127.0.0.1", port=8123, log_format="plain")
    assert "metrics directory" in info.value.message and "\n" not in info.value.message
