"""Django settings, built from Sekisho's typed configuration (sekisho.config)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from sekisho.config import get_config
from sekisho.instance import cached_master_key
from sekisho.logs import formatter_config

CONFIG = get_config()
BASE_URL = CONFIG.base_url

# Derived, never stored: rotating master.key rotates Django's signing secret too.
SECRET_KEY = hashlib.sha256(b"sekisho/django-secret-key/" + cached_master_key()).hexdigest()
DEBUG = CONFIG.debug
ALLOWED_HOSTS = [CONFIG.host, "localhost", "127.0.0.1", "[::1]", "testserver"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "sekisho.directory",
    "sekisho.mfa",
    "sekisho.saml",
    "sekisho.access",
    "sekisho.audit",
    "sekisho.ops",
    "sekisho.web",
    "sekisho.portal",
    "sekisho.admin",
    "sekisho.console",
    "sekisho.emulator",
]

MIDDLEWARE = [
    # Outermost: every request is timed and counted by route (and logged in JSON mode).
    "sekisho.web.ops.RequestMetricsMiddleware",
    # Every response (static files and early refusals too) carries HSTS.
    "sekisho.web.middleware.StrictTransportSecurityMiddleware",
    # Before anything reads the scheme, the host or the address.
    "sekisho.web.middleware.ClientAddressMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "sekisho.web.middleware.BodySizeLimitMiddleware",
    # /healthz, /readyz, /metrics: answered before sessions, CSRF and the URL router.
    "sekisho.web.ops.OpsEndpointsMiddleware",
    # Settings rows read by several decisions of one request are read once.
    "sekisho.web.middleware.RequestMemoMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # A control character in the path names nothing: 404 before any view looks it up.
    "sekisho.web.middleware.PathCharactersMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "sekisho.web.middleware.SessionTimeoutMiddleware",
    "sekisho.web.middleware.SecurityHeadersMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "sekisho.urls"
WSGI_APPLICATION = "sekisho.wsgi.application"

TEMPLATES: list[dict[str, Any]] = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "sekisho.web.context.sekisho",
            ],
        },
    }
]

_db = CONFIG.database
if _db.engine.endswith("sqlite3"):
    DATABASES: dict[str, dict[str, Any]] = {
        "default": {
            "ENGINE": _db.engine,
            "NAME": _db.name,
            # WAL lets readers and a writer work side by side across server workers.
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
            # One connection per server worker, kept: each worker runs Django on one
            # thread (sekisho/asgi.py), and opening SQLite per request cost more than
            # the request's queries (README, "Serving").
            "CONN_MAX_AGE": None,
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": _db.engine,
            "NAME": _db.name,
            "USER": _db.user,
            "PASSWORD": _db.password,
            "HOST": _db.host,
            "PORT": _db.port,
            "OPTIONS": _db.django_options(),
            # A worker keeps its connection between requests, and checks it before reuse
            # so a restarted database costs no failed request (docs/deploy/postgresql.md).
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "directory.User"
AUTHENTICATION_BACKENDS = ["sekisho.directory.backends.DirectoryBackend"]
PASSWORD_HASHERS = ["sekisho.directory.hashers.SekishoArgon2PasswordHasher"]

# Sessions live in the database so any worker on any host serves any request.
SESSION_ENGINE = "sekisho.web.sessions"
SESSION_COOKIE_NAME = "sekisho_session"
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_AGE = 12 * 3600
SEKISHO_SESSION_IDLE_SECONDS = 30 * 60
SEKISHO_SESSION_ABSOLUTE_SECONDS = 12 * 3600
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_NAME = "sekisho_csrf"
CSRF_TRUSTED_ORIGINS = [BASE_URL]
CSRF_FAILURE_VIEW = "sekisho.web.errors.csrf_failure"
LANGUAGE_COOKIE_NAME = "sekisho_language"
LANGUAGE_COOKIE_SECURE = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Forwarded scheme and host are Sekisho's to resolve (ClientAddressMiddleware), only from
# SEKISHO_TRUSTED_PROXIES; Django's own readers ignore the socket peer, so they stay off.
# HSTS is StrictTransportSecurityMiddleware's, sent whenever the public URL is https.
SECURE_PROXY_SSL_HEADER = None
USE_X_FORWARDED_HOST = False
USE_X_FORWARDED_PORT = False
SECURE_HSTS_SECONDS = 0

# Request bodies: SAML POST messages are a few KiB; refuse anything far larger early.
DATA_UPLOAD_MAX_MEMORY_SIZE = 512 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 100
SEKISHO_MAX_BODY_BYTES = 512 * 1024
# Requests per minute per API token (and per address without a valid token).
SEKISHO_API_RATE_LIMIT = CONFIG.api_rate_limit

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ja", "日本語")]
LOCALE_PATHS = [Path(__file__).resolve().parent / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"

STATIC_URL = "/static/"
# Served straight from the package by WhiteNoise finders: no collectstatic step to forget.
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
}

# plain (default) or json: one JSON object per line for Django's and Sekisho's loggers; the
# request middleware then writes the access log itself (sekisho.web.ops).
SEKISHO_LOG_FORMAT = CONFIG.log_format
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"sekisho": formatter_config(CONFIG.log_format)},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "sekisho"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
    "loggers": {
        "sekisho": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        # A malformed Host header is the client's mistake, not ours: keep it quiet.
        "django.security.DisallowedHost": {"handlers": [], "propagate": False},
    },
}
