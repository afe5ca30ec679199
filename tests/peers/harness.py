"""Real SAML service providers from Debian, run by the tests on loopback, unprivileged.

Shibboleth SP 3 (``shibd`` plus Apache's ``mod_shib``) and SimpleSAMLphp 1.19 (Apache's
``mod_php``), each with the configuration Debian installs, copied into a temporary
folder, plus what an administrator adds for an IdP: Sekisho's metadata, its entity ID,
and the key pairs the packages' own tools make (``shib-keygen``). Paths that point into
/etc, /var and /run are moved into the folder so nothing system-wide is touched; Apache
listens on a free 127.0.0.1 port over TLS (both SPs' defaults assume https: Shibboleth's
``handlerSSL``/``cookieProps="https"``, SimpleSAMLphp's secure session cookie) with a
certificate made here. When the tests run as root, Apache's children and shibd run as
``www-data``, as Debian runs them; otherwise as the current user.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.servers import free_port

APACHE = Path("/usr/sbin/apache2")
MODULES = Path("/usr/lib/apache2/modules")
SHIBD = Path("/usr/sbin/shibd")
SHIB_KEYGEN = Path("/usr/sbin/shib-keygen")
SHIBBOLETH_ETC = Path("/etc/shibboleth")
SIMPLESAMLPHP = Path("/usr/share/simplesamlphp")
SIMPLESAMLPHP_ETC = Path("/etc/simplesamlphp")
STARTUP_TIMEOUT = 60.0
SERVICE_USER = "www-data"
PACKAGES_HINT = "make test installs the Debian packages (DEBIAN_TEST_PACKAGES in the Makefile)"


def require(*paths: Path) -> None:
    """Fail (not skip) when a peer is missing: CI must run it, `make test` installs it."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: {PACKAGES_HINT}")


def service_account() -> tuple[str, str, int, int]:
    """(user, group, uid, gid) the peers run as: www-data under root, else ourselves."""
    if os.geteuid() == 0:
        entry = pwd.getpwnam(SERVICE_USER)
        return SERVICE_USER, grp.getgrgid(entry.pw_gid).gr_name, entry.pw_uid, entry.pw_gid
    entry = pwd.getpwuid(os.geteuid())
    return entry.pw_name, grp.getgrgid(os.getegid()).gr_name, os.geteuid(), os.getegid()


@contextlib.contextmanager
def peer_folder(prefix: str) -> Iterator[Path]:
    """A folder the service account can read (pytest's tmp_path is private to its owner)."""
    folder = Path(tempfile.mkdtemp(prefix=f"sekisho-{prefix}-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def hand_over(path: Path) -> None:
    """Give a tree to the service account (when running as root)."""
    _, _, uid, gid = service_account()
    if os.geteuid() != 0:
        return
    for item in [path, *path.rglob("*")]:
        os.chown(item, uid, gid, follow_symlinks=False)


def tls_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for https://localhost (what the browser context accepts)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "tls.crt", folder / "tls.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a peer's process group (Apache's children, shibd's threads) and reap it."""
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=grace)
            break
        except subprocess.TimeoutExpired:
            continue


@dataclass
class Apache:
    """One Apache httpd on https://localhost:<port>, its configuration written by the test."""

    root: Path
    port: int
    config: str
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The site's base URL."""
        return f"https://localhost:{self.port}"

    @property
    def certificate(self) -> Path:
        """The site's TLS certificate (to trust when fetching its metadata)."""
        return self.root / "tls.crt"

    def start(self) -> None:
        """Write httpd.conf, start Apache in the foreground and wait until it answers."""
        require(APACHE)
        user, group, _, _ = service_account()
        cert, key = tls_certificate(self.root)
        identity = f"User {user}\nGroup {group}\n" if os.geteuid() == 0 else ""
        (self.root / "httpd.conf").write_text(
            f"""ServerRoot /etc/apache2
DefaultRuntimeDir {self.root}
PidFile {self.root}/httpd.pid
Mutex file:{self.root} default
Listen 127.0.0.1:{self.port}
ServerName localhost:{self.port}
{identity}ErrorLog {self.root}/error.log
LogLevel warn
LoadModule mpm_prefork_module {MODULES}/mod_mpm_prefork.so
LoadModule authz_core_module {MODULES}/mod_authz_core.so
LoadModule authn_core_module {MODULES}/mod_authn_core.so
LoadModule mime_module {MODULES}/mod_mime.so
LoadModule dir_module {MODULES}/mod_dir.so
LoadModule alias_module {MODULES}/mod_alias.so
LoadModule env_module {MODULES}/mod_env.so
LoadModule ssl_module {MODULES}/mod_ssl.so
TypesConfig /etc/mime.types
SSLEngine on
SSLCertificateFile {cert}
SSLCertificateKeyFile {key}
{self.config}
"""
        )
        hand_over(self.root)
        key.chmod(0o600)
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")} | self.env
        with (self.root / "stdout.log").open("wb") as log:
            self.proc = subprocess.Popen(
                [str(APACHE), "-f", str(self.root / "httpd.conf"), "-DFOREGROUND"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_until_up()

    def wait_until_up(self) -> None:
        """Wait for any HTTP answer over TLS."""
        context = ssl.create_default_context(cafile=str(self.certificate))
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        last: Exception | None = None
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                pytest.fail(f"apache2 exited ({self.proc.returncode}):\n{self.logs()}")
            try:
                with opener.open(self.url + "/", timeout=2):
                    return
            except urllib.error.HTTPError:
                return
            except (urllib.error.URLError, OSError) as exc:
                last = exc
            time.sleep(0.2)
        pytest.fail(f"apache2 did not answer at {self.url} ({last}):\n{self.logs()}")

    def get(self, path: str) -> bytes:
        """GET a page of the site, trusting its certificate."""
        context = ssl.create_default_context(cafile=str(self.certificate))
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
        )
        with opener.open(self.url + path, timeout=10) as response:
            body: bytes = response.read()
            return body

    def logs(self) -> str:
        """Apache's error log and stdout, for failure messages."""
        parts = []
        for name in ("error.log", "stdout.log"):
            path = self.root / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-6000:])
        return "\n".join(parts)

    def stop(self) -> None:
        """Stop Apache."""
        if self.proc is not None:
            stop(self.proc)


# ---------------------------------------------------------------- Shibboleth SP

SHIB_SP_ENTITY_ID = "https://sp.example.org/shibboleth"  # the default shibboleth2.xml's own
BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"


@dataclass
class ShibbolethSp:
    """Debian's Shibboleth SP 3: shibd plus Apache with mod_shib, default configuration.

    Changes to /etc/shibboleth/shibboleth2.xml, as an administrator makes them for one
    IdP: the SSO element names Sekisho's entity ID, a MetadataProvider reads Sekisho's
    metadata file, and the listener socket and log files live in the test folder.
    ``signing`` ("true") and ``outgoing_bindings`` are the documented switches for
    signed AuthnRequests and for sending them by HTTP-POST; left None they stay default.
    """

    root: Path
    idp_entity_id: str
    idp_metadata: bytes
    signing: str | None = None
    outgoing_bindings: str | None = None
    apache: Apache | None = None
    shibd: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The SP's site."""
        assert self.apache is not None
        return self.apache.url

    @property
    def etc(self) -> Path:
        """The configuration folder (SHIBSP_CFGDIR/shibboleth)."""
        return self.root / "etc" / "shibboleth"

    def env(self) -> dict[str, str]:
        """Where shibd and mod_shib find their configuration, socket, cache and logs."""
        return {
            "SHIBSP_CFGDIR": str(self.root / "etc"),
            "SHIBSP_RUNDIR": str(self.root / "run"),
            "SHIBSP_CACHEDIR": str(self.root / "cache"),
            "SHIBSP_LOGDIR": str(self.root / "log"),
            "SHIBSP_CONFIG": str(self.etc / "shibboleth2.xml"),
        }

    def configure(self) -> None:
        """Copy Debian's configuration, make the SP's key pairs, add Sekisho."""
        require(SHIBD, SHIB_KEYGEN, SHIBBOLETH_ETC / "shibboleth2.xml", MODULES / "mod_shib.so")
        for sub in ("run/shibboleth", "cache/shibboleth", "log/shibboleth"):
            (self.root / sub).mkdir(parents=True)
        shutil.copytree(SHIBBOLETH_ETC, self.etc)
        user, group, _, _ = service_account()
        for prefix in ("sp-signing", "sp-encrypt"):
            subprocess.run(
                [
                    str(SHIB_KEYGEN),
                    "-o",
                    str(self.etc),
                    "-n",
                    prefix,
                    "-h",
                    "localhost",
                    "-u",
                    user,
                    "-g",
                    group,
                    "-b",
                ],
                check=True,
                capture_output=True,
            )
        for logger in ("shibd.logger", "native.logger"):
            path = self.etc / logger
            text = path.read_text().replace(
                "/var/log/shibboleth", str(self.root / "log/shibboleth")
            )
            # native.logger goes to syslog by default; a file is what a test can read.
            text = text.replace(
                "org.apache.log4j.LocalSyslogAppender", "org.apache.log4j.FileAppender"
            )
            text += f"\nlog4j.appender.native_log.fileName={self.root}/log/shibboleth/native.log\n"
            path.write_text(text)
        self.write_idp_metadata(self.idp_metadata)
        config = (self.etc / "shibboleth2.xml").read_text()
        config = config.replace(
            '<SSO entityID="https://idp.example.org/idp/shibboleth"',
            f'<SSO entityID="{self.idp_entity_id}"'
            + (f' outgoingBindings="{self.outgoing_bindings}"' if self.outgoing_bindings else ""),
        )
        config = config.replace(
            "<!-- Example of locally maintained metadata. -->",
            '<MetadataProvider type="XML" validate="true" path="sekisho-metadata.xml"/>\n'
            "        <!-- Example of locally maintained metadata. -->",
        )
        if self.signing is not None:
            config = config.replace(
                f'<ApplicationDefaults entityID="{SHIB_SP_ENTITY_ID}"',
                f'<ApplicationDefaults entityID="{SHIB_SP_ENTITY_ID}" signing="{self.signing}"',
            )
        (self.etc / "shibboleth2.xml").write_text(config)
        www = self.root / "www" / "secure"
        www.mkdir(parents=True)
        # A CGI page that shows what mod_shib exported: the attributes and session data.
        (www / "env.cgi").write_text('#!/bin/sh\nprintf "Content-Type: text/plain\\n\\n"\nenv\n')
        (www / "env.cgi").chmod(0o755)

    def write_idp_metadata(self, xml: bytes) -> None:
        """(Re)place the IdP metadata file shibd reads."""
        path = self.etc / "sekisho-metadata.xml"
        path.write_bytes(xml)
        hand_over(path)

    def start(self) -> None:
        """Start shibd, then Apache with mod_shib."""
        user, group, _, _ = service_account()
        hand_over(self.root)
        command = [
            str(SHIBD),
            "-F",
            "-f",
            "-c",
            str(self.etc / "shibboleth2.xml"),
            "-p",
            str(self.root / "run/shibboleth/shibd.pid"),
        ]
        if os.geteuid() == 0:
            command += ["-u", user, "-g", group]
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        with (self.root / "log" / "shibd.out").open("wb") as log:
            self.shibd = subprocess.Popen(
                command,
                env=env | self.env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        socket_path = self.root / "run/shibboleth/shibd.sock"
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not socket_path.exists():
            if self.shibd.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"shibd did not start:\n{self.logs()}")
            time.sleep(0.2)
        self.apache = Apache(
            root=self.root / "apache",
            port=free_port(),
            env=self.env(),
            config=f"""LoadModule cgi_module {MODULES}/mod_cgi.so
LoadModule mod_shib {MODULES}/mod_shib.so
ShibConfig {self.etc}/shibboleth2.xml
Include /etc/apache2/conf-available/shib.conf
DocumentRoot {self.root}/www
<Directory {self.root}/www>
  Require all granted
</Directory>
<Location /secure>
  AuthType shibboleth
  ShibRequestSetting requireSession 1
  Require shib-session
  Options +ExecCGI
  SetHandler cgi-script
</Location>
""",
        )
        self.apache.root.mkdir()
        self.apache.start()

    def metadata(self) -> bytes:
        """The SP's metadata, as its MetadataGenerator handler serves it."""
        assert self.apache is not None
        return self.apache.get("/Shibboleth.sso/Metadata")

    def logs(self) -> str:
        """shibd's logs (and Apache's), for failure messages."""
        parts = []
        for name in ("shibd.out", "shibboleth/shibd.log", "shibboleth/native.log"):
            path = self.root / "log" / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-6000:])
        if self.apache is not None:
            parts.append(self.apache.logs())
        return "\n".join(parts)

    def stop(self) -> None:
        """Stop Apache and shibd."""
        if self.apache is not None:
            self.apache.stop()
        if self.shibd is not None:
            stop(self.shibd)


# ---------------------------------------------------------------- SimpleSAMLphp SP


@dataclass
class SimpleSamlPhpSp:
    """Debian's SimpleSAMLphp 1.19 as an SP (its ``default-sp``), on Apache with mod_php.

    /etc/simplesamlphp is copied and pointed at by SIMPLESAMLPHP_CONFIG_DIR; config.php
    keeps Debian's settings except the folders (moved into the test folder), its secrets
    file (made here, as the package's postinst does), file logging, and one more metadata
    source: Sekisho's metadata XML. ``keys`` adds what SimpleSAMLphp's documentation has an
    SP administrator add for signed requests and encrypted assertions: a key pair in
    ``default-sp`` with ``sign.authnrequest``, ``sign.logout`` and ``assertion.encryption``.
    """

    root: Path
    idp_metadata: bytes
    keys: bool = False
    apache: Apache | None = None

    @property
    def url(self) -> str:
        """SimpleSAMLphp's base URL."""
        assert self.apache is not None
        return self.apache.url + "/simplesamlphp"

    @property
    def entity_id(self) -> str:
        """default-sp's entity ID (SimpleSAMLphp derives it from its metadata URL)."""
        return self.url + "/module.php/saml/sp/metadata.php/default-sp"

    def configure(self) -> None:
        """Copy Debian's configuration and add Sekisho as the IdP."""
        require(SIMPLESAMLPHP / "www", SIMPLESAMLPHP_ETC / "config.php", MODULES / "libphp8.2.so")
        config_dir = self.root / "config"
        shutil.copytree(SIMPLESAMLPHP_ETC, config_dir)
        for sub in ("log", "data", "tmp", "cert"):
            (self.root / sub).mkdir()
        (self.root / "secrets.inc.php").write_text(
            "<?php\n$config['auth.adminpassword'] = 'not-used-by-the-tests';\n"
            f"$config['secretsalt'] = '{os.urandom(16).hex()}';\n"
        )
        (config_dir / "sekisho-idp.xml").write_bytes(self.idp_metadata)
        text = (config_dir / "config.php").read_text()
        replacements = {
            "require_once('/var/lib/simplesamlphp/secrets.inc.php');": (
                f"require_once('{self.root}/secrets.inc.php');"
            ),
            "'loggingdir' => '/var/log/simplesamlphp/'": f"'loggingdir' => '{self.root}/log/'",
            "'datadir' => '/var/lib/simplesamlphp/data/'": f"'datadir' => '{self.root}/data/'",
            "'tempdir' => '/tmp/simplesaml'": f"'tempdir' => '{self.root}/tmp'",
            "'metadatadir' => '/etc/simplesamlphp/metadata/'": (
                f"'metadatadir' => '{config_dir}/metadata/'"
            ),
            "'attributenamemapdir' => '/etc/simplesamlphp/attributemap/'": (
                f"'attributenamemapdir' => '{config_dir}/attributemap/'"
            ),
            "'certdir' => '/etc/ssl/certs/'": f"'certdir' => '{self.root}/cert/'",
            "'logging.handler' => 'syslog'": "'logging.handler' => 'file'",
            "    'metadata.sources' => [\n        ['type' => 'flatfile'],\n    ],": (
                "    'metadata.sources' => [\n        ['type' => 'flatfile'],\n"
                f"        ['type' => 'xml', 'file' => '{config_dir}/sekisho-idp.xml'],\n    ],"
            ),
        }
        for old, new in replacements.items():
            assert old in text, f"Debian's config.php changed: {old!r} not found"
            text = text.replace(old, new)
        (config_dir / "config.php").write_text(text)
        if self.keys:
            self._add_keys(config_dir)

    def _add_keys(self, config_dir: Path) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "simplesamlphp-sp")])
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=30))
            .sign(key, hashes.SHA256())
        )
        (self.root / "cert" / "sp.crt").write_bytes(
            certificate.public_bytes(serialization.Encoding.PEM)
        )
        (self.root / "cert" / "sp.pem").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
        text = (config_dir / "authsources.php").read_text()
        anchor = "        'discoURL' => null,\n"
        assert anchor in text, "Debian's authsources.php changed"
        text = text.replace(
            anchor,
            anchor
            + "        'privatekey' => 'sp.pem',\n"
            + "        'certificate' => 'sp.crt',\n"
            + "        'sign.authnrequest' => true,\n"
            + "        'sign.logout' => true,\n"
            + "        'assertion.encryption' => true,\n",
        )
        (config_dir / "authsources.php").write_text(text)

    def start(self) -> None:
        """Start Apache with mod_php serving SimpleSAMLphp at /simplesamlphp."""
        self.apache = Apache(
            root=self.root / "apache",
            port=free_port(),
            config=f"""LoadModule php_module {MODULES}/libphp8.2.so
<FilesMatch ".+\\.php$">
    SetHandler application/x-httpd-php
</FilesMatch>
DirectoryIndex index.php
Alias /simplesamlphp {SIMPLESAMLPHP}/www
<Directory {SIMPLESAMLPHP}/www/>
  SetEnv SIMPLESAMLPHP_CONFIG_DIR {self.root}/config
  Require all granted
</Directory>
""",
        )
        self.apache.root.mkdir()
        hand_over(self.root)
        self.apache.start()

    def metadata(self) -> bytes:
        """default-sp's metadata, as SimpleSAMLphp generates it."""
        assert self.apache is not None
        return self.apache.get("/simplesamlphp/module.php/saml/sp/metadata.php/default-sp")

    def logs(self) -> str:
        """SimpleSAMLphp's log and Apache's."""
        path = self.root / "log" / "simplesamlphp.log"
        text = path.read_text(errors="replace")[-6000:] if path.exists() else ""
        return text + "\n" + (self.apache.logs() if self.apache is not None else "")

    def stop(self) -> None:
        """Stop Apache."""
        if self.apache is not None:
            self.apache.stop()


def strip_algorithm_support(metadata: bytes) -> bytes:
    """IdP metadata without its alg: extensions, as Sekisho published it before issue 11."""
    return re.sub(rb"<md:Extensions>\s*<alg:.*?</md:Extensions>\s*", b"", metadata, flags=re.S)
