"""Which emulated service a request to the single AWS endpoint is for.

A signed request names its service in the SigV4 credential scope
(``Credential=AKID/20260101/us-east-1/sts/aws4_request``), as AWS's own endpoints
require ("Signature Version 4 signing process", credential scope). STS's SAML and web
identity calls are unsigned ("AssumeRoleWithSAML": "Calling AssumeRoleWithSAML does
not require the use of AWS security credentials"), so an unsigned request is STS when
its ``Action`` is one of those.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from sekisho.emulator.errors import AwsError
from sekisho.emulator.protocol.http import AwsHttpRequest, decode_form, decode_query
from sekisho.emulator.protocol.sigv4 import missing_authentication_error

SERVICES = ("iam", "sts", "connect")
UNSIGNED_STS_ACTIONS = frozenset({"AssumeRoleWithSAML", "AssumeRoleWithWebIdentity"})
_HEADER_SCOPE = re.compile(r"Credential=\s*[^/,\s]+/[^/,\s]*/[^/,\s]*/([^/,\s]*)/")
_QUERY_SCOPE = re.compile(r"[^/]+/[^/]*/[^/]*/([^/]*)/")


def _signed_service(req: AwsHttpRequest) -> str | None:
    header = req.headers.get("authorization")
    if header is not None:
        match = _HEADER_SCOPE.search(header)
        if match is None:
            raise AwsError(
                "IncompleteSignature",
                f"Authorization header requires 'Credential' parameter. Authorization={header}",
                http_status=400,
            )
        return match.group(1)
    query = dict(decode_query(req.query_string))
    credential = query.get("X-Amz-Credential")
    if "X-Amz-Algorithm" in query and credential:
        match = _QUERY_SCOPE.match(credential)
        if match is not None:
            return match.group(1)
    return None


def _unsigned_action(req: AwsHttpRequest) -> str | None:
    action = dict(decode_query(req.query_string)).get("Action")
    content_type = req.headers.get("content-type", "").split(";")[0].strip().lower()
    if action is None and req.body and content_type == "application/x-www-form-urlencoded":
        text = req.body.decode("utf-8", "surrogateescape")
        action = dict(decode_form(text, plus_is_space=True)).get("Action")
    return action


def identify_service(req: AwsHttpRequest, *, services: Collection[str] = SERVICES) -> str:
    """Name the service (``iam``, ``sts``, ``connect``) a request is for.

    Raises:
        AwsError: ``MissingAuthenticationToken`` (403) for an unsigned request that is
            not an unsigned STS call; ``IncompleteSignature`` (400) for an
            ``Authorization`` header without a credential scope;
            ``SignatureDoesNotMatch`` (403) for a scope naming a service not served here.
    """
    service = _signed_service(req)
    if service is None:
        if _unsigned_action(req) in UNSIGNED_STS_ACTIONS and "sts" in services:
            return "sts"
        raise missing_authentication_error("query")
    if service not in services:
        raise AwsError(
            "SignatureDoesNotMatch",
            "Credential should be scoped to correct service: one of "
            f"{', '.join(repr(name) for name in sorted(services))}, not '{service}'.",
            http_status=403,
        )
    return service


def requested_action(req: AwsHttpRequest) -> str | None:
    """The query protocol's ``Action`` (query string or form body), not validated yet."""
    return _unsigned_action(req)
