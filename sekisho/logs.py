"""Log line formats: Sekisho's plain lines or one JSON object per line (SEKISHO_LOG_FORMAT)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

# The request fields a log record may carry (``extra=``); nothing else of a record's
# attributes is written, so a stray attribute can never leak into the log.
REQUEST_FIELDS = ("method", "route", "status", "duration_ms", "request_id", "client_ip")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, pid, and request fields if any.

    Used for Django's and Sekisho's loggers (settings.LOGGING) and granian's own log
    (sekisho.serving). The message is the formatted text as each logger wrote it; callers
    never pass secrets, codes, cookies or SAML messages to a logger (Django logs request
    paths without their query strings).
    """

    def format(self, record: logging.LogRecord) -> str:
        """The record as a single line of JSON (newlines inside values are escaped)."""
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        for field in REQUEST_FIELDS:
            value = record.__dict__.get(field)
            if value is not None:
                line[field] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def formatter_config(log_format: str) -> dict[str, Any]:
    """A logging.config formatter entry for ``plain`` or ``json``."""
    if log_format == "json":
        return {"()": "sekisho.logs.JsonFormatter"}
    return {"format": PLAIN_FORMAT}
