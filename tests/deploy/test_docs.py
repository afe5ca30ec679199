"""docs/deploy agrees with Sekisho: limits, headers, the unit's command line, the environment.

nginx.conf and postgresql.md are run for real by test_nginx.py and test_postgresql.py; here
the rest: values that must match Sekisho's own, the systemd unit checked by
``systemd-analyze verify``, and the environment file accepted by Sekisho's configuration.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from sekisho.cli.main import build_parser
from sekisho.config import load_config
from sekisho.web.middleware import HSTS_VALUE
from tests.servers import REPO

DOCS = REPO / "docs" / "deploy"


def _directive(text: str, name: str) -> list[str]:
    return re.findall(rf"^\s*{name}\s+(.+?);\s*(?:#.*)?$", text, re.MULTILINE)


def test_nginx_refuses_exactly_what_sekisho_refuses() -> None:
    size = _directive((DOCS / "nginx.conf").read_text(), "client_max_body_size")
    assert size == ["512k"]
    assert 512 * 1024 == settings.SEKISHO_MAX_BODY_BYTES == settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def test_nginx_sends_sekishos_hsts_value() -> None:
    headers = _directive((DOCS / "nginx.conf").read_text(), "add_header")
    assert headers == [f'Strict-Transport-Security "{HSTS_VALUE}" always']


def test_nginx_writes_or_clears_every_header_sekisho_reads() -> None:
    set_headers = {
        line.split()[0].lower()
        for line in _directive((DOCS / "nginx.conf").read_text(), "proxy_set_header")
    }
    assert {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded"} <= (
        set_headers
    )


def _unit() -> str:
    return (DOCS / "sekisho.service").read_text()


def test_the_units_command_line_is_one_sekisho_serve_accepts() -> None:
    (exec_start,) = re.findall(r"^ExecStart=(.+)$", _unit(), re.MULTILINE)
    argv = shlex.split(exec_start)
    assert argv[0] == "/opt/sekisho/bin/sekisho"
    args = build_parser().parse_args(argv[1:])
    assert (args.host, args.port, args.workers) == ("127.0.0.1", 8000, 4)
    upstream = _directive((DOCS / "nginx.conf").read_text(), "server")
    assert upstream == [f"{args.host}:{args.port}"]


def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian's systemd package)")
    sekisho = shutil.which("sekisho", path=str(Path(REPO / ".venv" / "bin")))
    assert sekisho is not None
    # Only what must exist on the machine running verify changes: the program's path.
    unit = _unit().replace("/opt/sekisho/bin/sekisho", sekisho)
    unit = unit.replace("EnvironmentFile=/etc/", "EnvironmentFile=-/etc/")
    (tmp_path / "sekisho.service").write_text(unit)
    done = subprocess.run(
        [analyze, "verify", str(tmp_path / "sekisho.service")],
        capture_output=True,
        text=True,
        check=False,
    )
    problems = [line for line in done.stderr.splitlines() if "sekisho.service" in line]
    assert done.returncode == 0 and not problems, done.stderr


def test_the_unit_keeps_the_data_directory_private_and_the_rest_read_only() -> None:
    unit = _unit()
    for setting in (
        "User=sekisho",
        "StateDirectory=sekisho",
        "StateDirectoryMode=0700",
        "UMask=0077",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "CapabilityBoundingSet=",
        "EnvironmentFile=/etc/sekisho/sekisho.env",
    ):
        assert re.search(rf"^{re.escape(setting)}$", unit, re.MULTILINE), setting


def _environment(text: str, *, uncomment: bool = False) -> dict[str, str]:
    pattern = r"^#?([A-Z_]+)=(.*)$" if uncomment else r"^([A-Z_]+)=(.*)$"
    return dict(re.findall(pattern, text, re.MULTILINE))


def test_the_environment_file_is_a_valid_configuration() -> None:
    text = (DOCS / "sekisho.env").read_text()
    for environ in (_environment(text), _environment(text, uncomment=True)):
        config = load_config(environ)
        assert config.base_url == "https://idp.example.com"
        assert [str(n) for n in config.trusted_proxies] == ["127.0.0.1/32"]
        assert str(config.data_dir) == "/var/lib/sekisho"
    remote = load_config(_environment(text, uncomment=True)).database
    assert dict(remote.options) == {
        "sslmode": "verify-full",
        "sslrootcert": "/etc/sekisho/db-ca.pem",
    }
    assert (remote.user, remote.name) == ("sekisho_app", "sekisho")


def test_every_variable_is_in_the_readme_configuration_table() -> None:
    readme = (REPO / "README.md").read_text()
    table = readme[readme.index("## Configuration") : readme.index("## Deploy")]
    names = _environment((DOCS / "sekisho.env").read_text(), uncomment=True)
    assert names
    for name in names:
        assert f"| `{name}` |" in table, name


def test_readme_and_docs_links_resolve() -> None:
    for document in (REPO / "README.md", DOCS / "README.md"):
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", document.read_text()):
            if "://" not in target:
                assert (document.parent / target).exists(), (document, target)
