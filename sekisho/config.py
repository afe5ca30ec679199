"""Sekisho's configuration, read once from the environment into one typed object."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sekisho.errors import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}
# Who may scrape /metrics when SEKISHO_METRICS_ALLOW is unset: this machine only.
DEFAULT_METRICS_ALLOW = "127.0.0.0/8 ::1"
LOG_FORMATS = ("plain", "json")
_DB_URL = re.compile(
    r"^(?P<scheme>postgres|postgresql)://"
    r"(?:(?P<user>[^:@/]*)(?::(?P<password>[^@/]*))?@)?"
    r"(?P<host>\[[^\]]+\]|[^:/?]*)?(?::(?P<port>\d+))?/(?P<name>[^?]+)"
    r"(?:\?(?P<query>.*))?$"
)


@dataclass(frozen=True)
class DatabaseSettings:
    """Where the database lives: the embedded SQLite file or a PostgreSQL server."""

    engine: str
    name: str
    user: str = ""
    password: str = ""
    host: str = ""
    port: str = ""
    options: tuple[tuple[str, str], ...] = ()

    def django_options(self) -> dict[str, Any]:
        """Django's OPTIONS for this database (see ``postgresql_options``)."""
        if not self.engine.endswith("postgresql"):
            return dict(self.options)
        return postgresql_options(self.options)

    def libpq_options(self) -> dict[str, str]:
        """The options libpq itself takes (for pg_dump and pg_restore), without Django's."""
        return {k: v for k, v in self.options if k not in DRIVER_OPTIONS}


# DATABASE_URL options that Django and psycopg take; the others are libpq's.
DRIVER_OPTIONS = frozenset({"server_side_binding", "prepare_threshold"})
# Server-side binding with prepared statements: a statement a connection has run this
# many times is prepared once, so PostgreSQL stops parsing and planning it per request
# (README, Performance: about a quarter more signed-in launches per second).
PREPARE_THRESHOLD = 5


def postgresql_options(options: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """DATABASE_URL's query string as Django's OPTIONS, with Sekisho's defaults.

    ``server_side_binding`` (true/false) and ``prepare_threshold`` (a count, or ``none``
    for no prepared statements, as a transaction-mode PgBouncer before 1.21 needs) are
    Django's and psycopg's; anything else goes to libpq as a connection option.

    Raises:
        ConfigError: a value that is not one of these.
    """
    result: dict[str, Any] = {"server_side_binding": True, "prepare_threshold": PREPARE_THRESHOLD}
    for key, value in options:
        if key == "server_side_binding":
            if value.lower() not in ("true", "false"):
                raise ConfigError(
                    f"DATABASE_URL: server_side_binding must be true or false, got {value!r}"
                )
            result[key] = value.lower() == "true"
        elif key == "prepare_threshold":
            if value.lower() == "none":
                result[key] = None
            elif value.isascii() and value.isdigit() and int(value) <= 1_000_000:
                result[key] = int(value)
            else:
                raise ConfigError(
                    f"DATABASE_URL: prepare_threshold must be a count or none, got {value!r}"
                )
        else:
            result[key] = value
    return result


@dataclass(frozen=True)
class Argon2Parameters:
    """How passwords are hashed: argon2id's memory (KiB), iterations and lanes."""

    memory_kib: int
    time_cost: int
    parallelism: int

    def describe(self) -> str:
        """The SEKISHO_PASSWORD_HASH spelling of these parameters."""
        return f"argon2id:m={self.memory_kib},t={self.time_cost},p={self.parallelism}"


# Sekisho's default: m=64 MiB, t=3, p=1, well above OWASP's floor (see README, Performance).
DEFAULT_PASSWORD_HASH = Argon2Parameters(memory_kib=65536, time_cost=3, parallelism=1)
# OWASP Password Storage Cheat Sheet, "Argon2id": five configurations of equal strength,
# as (memory KiB, iterations) with one lane; anything at least one of them is accepted.
OWASP_ARGON2ID_MINIMUMS = ((47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5))
# Beyond these a sign-in would take seconds of one core or gigabytes: a typo, not a choice.
_ARGON2_MAXIMUMS = (1048576, 20, 16)
_PASSWORD_HASH = re.compile(r"^argon2id:m=(\d{1,8}),t=(\d{1,3}),p=(\d{1,3})$")


@dataclass(frozen=True)
class OrganizationSettings:
    """Who runs this IdP, for md:Organization in the metadata."""

    name: str
    display_name: str
    url: str


@dataclass(frozen=True)
class ContactSettings:
    """One md:ContactPerson: its type (technical, support) and how to reach it."""

    contact_type: str
    email: str
    name: str = ""


@dataclass(frozen=True)
class MetadataSettings:
    """What the published IdP metadata carries beyond the protocol endpoints."""

    sign: bool = False
    valid_days: int | None = None
    cache_seconds: int | None = None
    organization: OrganizationSettings | None = None
    contacts: tuple[ContactSettings, ...] = ()


@dataclass(frozen=True)
class Config:
    """Every setting Sekisho reads from its environment."""

    data_dir: Path
    base_url: str
    database: DatabaseSettings
    trusted_proxies: tuple[Network, ...]
    debug: bool = False
    metrics_allow: tuple[Network, ...] = ()
    log_format: str = "plain"
    password_hash: Argon2Parameters = DEFAULT_PASSWORD_HASH
    # shibmd:Scope and the domain of scoped attributes (eppn, subject-id).
    scope: str = ""
    metadata: MetadataSettings = MetadataSettings()
    api_rate_limit: int = 600

    @property
    def secure_transport(self) -> bool:
        """Whether the public URL is HTTPS (aws:SecureTransport for requests through it)."""
        return self.base_url.startswith("https://")

    @property
    def host(self) -> str:
        """The host name of the public URL."""
        return urlsplit(self.base_url).hostname or "localhost"

    def url(self, path: str) -> str:
        """An absolute public URL for a path on this IdP."""
        return self.base_url + path


def _parse_base_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"SEKISHO_BASE_URL must be an absolute http(s) URL such as "
            f"https://idp.example.com, got {raw!r}"
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"SEKISHO_BASE_URL must not have a query or fragment, got {raw!r}")
    host = (parts.hostname or "").lower()
    if parts.scheme == "http" and host not in _LOOPBACK_HOSTS:
        # Session cookies are always Secure; browsers only honour that over HTTPS or loopback.
        raise ConfigError(
            f"SEKISHO_BASE_URL must use https unless the host is loopback, got {raw!r}"
        )
    return raw.rstrip("/")


def parse_database_url(raw: str) -> DatabaseSettings:
    """Parse a postgresql:// URL into database settings, or raise ConfigError."""
    from urllib.parse import parse_qsl, unquote

    match = _DB_URL.match(raw.strip())
    if not match:
        raise ConfigError(
            "DATABASE_URL must look like postgresql://USER:PASSWORD@HOST:PORT/NAME, "
            f"got a value starting {raw[:14]!r}"
        )
    host = match["host"] or ""
    if host.startswith("["):
        host = host[1:-1]
    query = tuple(parse_qsl(match["query"] or "", strict_parsing=False))
    postgresql_options(query)  # refuse a bad value now, not at the first connection
    return DatabaseSettings(
        engine="django.db.backends.postgresql",
        name=unquote(match["name"]),
        user=unquote(match["user"] or ""),
        password=unquote(match["password"] or ""),
        host=unquote(host),
        port=match["port"] or "",
        options=query,
    )


def parse_password_hash(raw: str) -> Argon2Parameters:
    """Parse ``argon2id:m=KIB,t=N,p=N`` and refuse parameters below OWASP's minimum."""
    match = _PASSWORD_HASH.match(raw.strip())
    if not match:
        raise ConfigError(
            f"SEKISHO_PASSWORD_HASH must look like argon2id:m=19456,t=2,p=1, got {raw[:60]!r}"
        )
    params = Argon2Parameters(int(match[1]), int(match[2]), int(match[3]))
    if params.parallelism < 1 or not any(
        params.memory_kib >= memory and params.time_cost >= time
        for memory, time in OWASP_ARGON2ID_MINIMUMS
    ):
        raise ConfigError(
            f"SEKISHO_PASSWORD_HASH {params.describe()} is below OWASP's minimum for "
            "argon2id (one of m=47104,t=1 / m=19456,t=2 / m=12288,t=3 / m=9216,t=4 / "
            "m=7168,t=5, with p>=1)"
        )
    memory, time, lanes = _ARGON2_MAXIMUMS
    if params.memory_kib > memory or params.time_cost > time or params.parallelism > lanes:
        raise ConfigError(
            f"SEKISHO_PASSWORD_HASH {params.describe()} is beyond m={memory},t={time},"
            f"p={lanes}: a sign-in would cost seconds or gigabytes"
        )
    return params


_SCOPE_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$")
_CONTACT = re.compile(r"^(?:(?P<name>[^<>]*?)\s*<(?P<email>[^<>]+)>|(?P<bare>[^<>\s]+))$")
_BOOLEAN = {
    "": False,
    "0": False,
    "false": False,
    "no": False,
    "1": True,
    "true": True,
    "yes": True,
}


def parse_scope(raw: str, *, default: str) -> str:
    """SEKISHO_SCOPE: a DNS domain (lowercase) such as example.com; default the base URL's host."""
    value = raw.strip().lower() or default
    labels = value.split(".")
    if not all(_SCOPE_LABEL.match(label) for label in labels):
        raise ConfigError(
            f"SEKISHO_SCOPE must be a DNS domain such as example.com (letters, digits, '-' "
            f"and '.'), got {raw.strip()!r}"
        )
    return value


def _parse_bool(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw not in _BOOLEAN:
        raise ConfigError(f"{name} must be true or false, got {raw!r}")
    return _BOOLEAN[raw]


def _parse_int(env: Mapping[str, str], name: str, *, low: int, high: int, unit: str) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ConfigError(
            f"{name} must be a whole number of {unit} from {low} to {high}, got {raw!r}"
        )
    return int(raw)


def _parse_contact(env: Mapping[str, str], name: str, contact_type: str) -> ContactSettings | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    match = _CONTACT.match(raw)
    email = (match["email"] or match["bare"] or "").strip() if match else ""
    if not match or not _EMAIL.match(email):
        raise ConfigError(f"{name} must be an e-mail address or 'Name <address>', got {raw!r}")
    return ContactSettings(
        contact_type=contact_type, email=email, name=(match["name"] or "").strip()
    )


def _parse_organization(env: Mapping[str, str]) -> OrganizationSettings | None:
    name = env.get("SEKISHO_ORG_NAME", "").strip()
    url = env.get("SEKISHO_ORG_URL", "").strip()
    display = env.get("SEKISHO_ORG_DISPLAY_NAME", "").strip() or name
    if not name and not url and not env.get("SEKISHO_ORG_DISPLAY_NAME", "").strip():
        return None
    if not name or not url:
        raise ConfigError(
            "SEKISHO_ORG_NAME and SEKISHO_ORG_URL must be set together (md:Organization "
            f"needs both), got name {name!r} and URL {url!r}"
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in url):
        raise ConfigError(f"SEKISHO_ORG_URL must be an absolute http(s) URL, got {url!r}")
    for what, value in (("SEKISHO_ORG_NAME", name), ("SEKISHO_ORG_DISPLAY_NAME", display)):
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value) or len(value) > 256:
            raise ConfigError(f"{what} must be at most 256 printable characters, got {value!r}")
    return OrganizationSettings(name=name, display_name=display, url=url)


def parse_metadata_settings(env: Mapping[str, str]) -> MetadataSettings:
    """The SEKISHO_METADATA_*, SEKISHO_ORG_* and SEKISHO_CONTACT_* settings."""
    contacts = tuple(
        contact
        for contact in (
            _parse_contact(env, "SEKISHO_CONTACT_TECHNICAL", "technical"),
            _parse_contact(env, "SEKISHO_CONTACT_SUPPORT", "support"),
        )
        if contact is not None
    )
    return MetadataSettings(
        sign=_parse_bool(env, "SEKISHO_METADATA_SIGN"),
        valid_days=_parse_int(env, "SEKISHO_METADATA_VALID_DAYS", low=1, high=3650, unit="days"),
        cache_seconds=_parse_int(
            env, "SEKISHO_METADATA_CACHE_SECONDS", low=60, high=31_536_000, unit="seconds"
        ),
        organization=_parse_organization(env),
        contacts=contacts,
    )


def parse_trusted_proxies(raw: str) -> tuple[Network, ...]:
    """Parse comma- or space-separated CIDRs; a bare address is a /32 or /128."""
    from sekisho.network import parse_cidrs

    return parse_cidrs(raw, setting="SEKISHO_TRUSTED_PROXIES")


def parse_metrics_allow(raw: str) -> tuple[Network, ...]:
    """Parse the networks allowed to scrape /metrics; blank means loopback only."""
    from sekisho.network import parse_cidrs

    return parse_cidrs(raw.strip() or DEFAULT_METRICS_ALLOW, setting="SEKISHO_METRICS_ALLOW")


def parse_log_format(raw: str) -> str:
    """``plain`` (the default) or ``json``: one JSON object per log line."""
    value = raw.strip().lower() or "plain"
    if value not in LOG_FORMATS:
        raise ConfigError(f"SEKISHO_LOG_FORMAT must be plain or json, got {raw.strip()!r}")
    return value


API_RATE_LIMIT_MAX = 1_000_000


def parse_api_rate_limit(raw: str) -> int:
    """Requests per minute per API token (default 600), 1..1,000,000."""
    value = raw.strip() or "600"
    if not value.isdigit() or not 1 <= int(value) <= API_RATE_LIMIT_MAX:
        raise ConfigError(
            f"SEKISHO_API_RATE_LIMIT must be a number of requests per minute, "
            f"1..{API_RATE_LIMIT_MAX}, got {raw.strip()[:40]!r}"
        )
    return int(value)


def load_config(environ: Mapping[str, str] | None = None) -> Config:
    """Read the configuration from the environment, or raise ConfigError naming the problem."""
    env = os.environ if environ is None else environ
    data_dir = Path(env.get("SEKISHO_DATA") or "var").expanduser().absolute()
    if data_dir.exists() and not data_dir.is_dir():
        raise ConfigError(f"SEKISHO_DATA must be a directory, got the file {data_dir}")
    base_url = _parse_base_url(env.get("SEKISHO_BASE_URL") or "http://localhost:8000")
    db_url = env.get("DATABASE_URL", "").strip()
    if db_url:
        database = parse_database_url(db_url)
    else:
        database = DatabaseSettings(
            engine="django.db.backends.sqlite3", name=str(data_dir / "sekisho.sqlite3")
        )
    proxies = parse_trusted_proxies(env.get("SEKISHO_TRUSTED_PROXIES", ""))
    debug_raw = env.get("SEKISHO_DEBUG", "").strip().lower()
    if debug_raw not in ("", "0", "1", "false", "true", "no", "yes"):
        raise ConfigError(f"SEKISHO_DEBUG must be true or false, got {debug_raw!r}")
    password_hash = DEFAULT_PASSWORD_HASH
    if env.get("SEKISHO_PASSWORD_HASH", "").strip():
        password_hash = parse_password_hash(env["SEKISHO_PASSWORD_HASH"])
    host = (urlsplit(base_url).hostname or "localhost").lower()
    return Config(
        data_dir=data_dir,
        base_url=base_url,
        database=database,
        trusted_proxies=proxies,
        debug=debug_raw in ("1", "true", "yes"),
        metrics_allow=parse_metrics_allow(env.get("SEKISHO_METRICS_ALLOW", "")),
        log_format=parse_log_format(env.get("SEKISHO_LOG_FORMAT", "")),
        password_hash=password_hash,
        scope=parse_scope(env.get("SEKISHO_SCOPE", ""), default=_scope_default(host)),
        metadata=parse_metadata_settings(env),
        api_rate_limit=parse_api_rate_limit(env.get("SEKISHO_API_RATE_LIMIT", "")),
    )


def _scope_default(host: str) -> str:
    # An IP address is no security domain; "localhost" is the stand-in then.
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host
    return "localhost"


@lru_cache(maxsize=1)
def get_config() -> Config:
    """The process-wide configuration, read once."""
    return load_config()
