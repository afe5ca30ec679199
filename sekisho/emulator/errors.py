"""Errors of the emulator context: AWS-shaped errors a client receives, and emulator bugs.

``AwsError`` is what an AWS service would answer (an error code, a message, an HTTP status
and whether the caller is at fault); the protocol modules serialize it as the service's
wire protocol does (``<ErrorResponse>`` for query, ``x-amzn-ErrorType`` for rest-json).
An error that a service model declares is built by ``protocol.shapes.modeled_error``, so
this module needs no model (and the protocol layer, which imports it, no cycle).
``ResultShapeError`` is never shown to a client as such: it means the emulator built a
result that its botocore model does not allow, which the web layer answers with a 500.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sekisho.errors import SekishoError

# What an error message must not carry as such: the C0 controls other than TAB, LF and
# CR, DEL, lone surrogates and U+FFFE/U+FFFF. XML 1.0 has no way to write most of them
# ("Char" production, §2.2), UTF-8 none for a surrogate, and DEL is a control as well.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    if code < 0x80:
        return f"\\x{code:02x}"
    if 0xDC00 <= code <= 0xDCFF:
        # A byte that could not be decoded, kept as "surrogateescape" does (PEP 383): one
        # that was not UTF-8 (U+DC80..), or a "%" that started no escape (U+DC25).
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with each character that XML 1.0 or UTF-8 cannot carry written as ``\\x01``."""
    return _UNPRINTABLE.sub(_escape, text)


class EmulatorError(SekishoError):
    """Root of the emulator context's errors."""

    code = "emulator_error"


class AwsError(EmulatorError):
    """An error as an AWS service returns it (code, message, HTTP status, fault side).

    ``code`` is the AWS error code the SDK reports as ``Error.Code`` (``NoSuchEntity``,
    ``InvalidIdentityToken``, ``ResourceNotFoundException``); ``type_name`` is the
    exception shape's name in the service model (``NoSuchEntityException``), which is
    what rest-json services put in ``x-amzn-ErrorType`` (for them it equals the code).
    ``fields`` holds further modeled members of the exception (rest-json body members).
    The message (and any text field) is kept ``printable``: it often quotes a value the
    client sent, and the error must serialize as XML or JSON whatever that value was.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        http_status: int = 400,
        sender_fault: bool | None = None,
        type_name: str | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(printable(message), code=code)
        self.http_status = http_status
        self.sender_fault = http_status < 500 if sender_fault is None else sender_fault
        self.type_name = type_name or code
        self.fields: dict[str, Any] = {
            key: printable(value) if isinstance(value, str) else value
            for key, value in (fields or {}).items()
        }
        # Why a policy refused the request (never sent to the client; for logs and audit).
        self.explanation: str | None = None

    def __repr__(self) -> str:
        return f"AwsError({self.code!r}, {self.message!r}, http_status={self.http_status})"


class ResultShapeError(EmulatorError):
    """A handler's result does not fit the operation's output shape (an emulator bug)."""

    code = "result_shape_error"
