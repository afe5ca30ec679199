"""Sweep: control characters and undecodable bytes in every string parameter (issue 9).

For each operation of IAM, STS and Amazon Connect that the emulator serves, and a fixed
sample of those it does not, botocore writes a request with a marker in one top-level
string member; the marker is then replaced on the wire (form body, query string, URI
label, header or JSON body) by a bad value, the request is signed as an SDK would sign
those bytes, and Django's test client sends it to ``/aws``. Every answer must be the
service's own 400 (query: ``ValidationError``; Connect: the operation's
``InvalidParameterException`` or ``InvalidRequestException``, or
``SerializationException`` for JSON that is not JSON) in a body that parses, with no
raw control character in its message, and no answer may be a 5xx. About 1,650 requests
over 70 operations, some five seconds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_from_bytes, urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from django.test import Client
from lxml import etree

from sekisho.emulator import accounts, connect, iam
from sekisho.emulator.protocol.http import AwsHttpRequest
from sekisho.emulator.protocol.shapes import (
    ServiceModel,
    Shape,
    as_list,
    as_map,
    as_structure,
    load_service_model,
)
from tests.emulator.harness import ENDPOINT, botocore_request
from tests.emulator.test_iam_service import ACCOUNT_ID

pytestmark = pytest.mark.django_db

MARKER = "Zq9Marker7Xw"
SERVED = {
    "iam": frozenset(iam.OPERATIONS),
    "sts": frozenset({"AssumeRoleWithSAML", "GetCallerIdentity"}),
    "connect": frozenset(connect.OPERATIONS),
}
UNSIGNED = {("sts", "AssumeRoleWithSAML")}
SAMPLE_SIZE = {"iam": 8, "sts": 10, "connect": 12}  # operations the emulator does not serve
# Unserved operations swept besides the sample: the ones with string members in headers.
ALSO = {"connect": ("CreateTestCase", "UpdateTestCase")}

# Bad values as they travel percent-encoded (form bodies, query strings, URI labels):
# C0 controls, DEL, bytes that are not UTF-8 (a lone 0xFF, an encoded surrogate, a
# truncated sequence) and malformed escapes.
ENCODED = ("a%00b", "a%01b", "a%1Fb", "a%7Fb", "a%FFb", "a%ED%A0%80b", "a%C3b", "a%ZZb", "a%4")
# ...sent as raw bytes in a form body.
RAW_FORM = (b"a\x01b", b"a\xffb")
# ...inside a JSON string: escapes for controls and lone surrogates, and raw bytes.
JSON_VALUES = (
    b"a\\u0000b",
    b"a\\u0001b",
    b"a\\u007fb",
    b"a\\ud800b",
    b"a\\udfffb",
    b"a\xffb",
    b"a\x01b",
)
HEADER_VALUES = ("a\x01b", "a\x7fb", "a\x00b")

QUERY_CODES = {"ValidationError"}
REST_JSON_CODES = {"InvalidParameterException", "InvalidRequestException", "SerializationException"}
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


# --- requests -------------------------------------------------------------------------------


def sample(shape: Shape, depth: int = 0) -> Any:
    """A plausible value of a shape: its required members only, sizes at their minimum."""
    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure":
        structure = as_structure(shape)
        if depth > 4:
            return {}
        return {
            name: sample(structure.members[name], depth + 1) for name in structure.required_members
        }
    if kind == "list":
        return [sample(as_list(shape).member, depth + 1)] * max(1, int(meta.get("min", 1)))
    if kind == "map":
        map_shape = as_map(shape)
        return {sample(map_shape.key, depth + 1): sample(map_shape.value, depth + 1)}
    if kind == "string":
        enum = meta.get("enum")
        return enum[0] if enum else "a" * max(1, int(meta.get("min", 1)))
    if kind in ("integer", "long"):
        return max(int(meta.get("min", 1)), 1)
    if kind in ("float", "double"):
        return 1.0
    if kind == "boolean":
        return False
    if kind == "timestamp":
        return datetime(2026, 1, 2, tzinfo=UTC)
    if kind == "blob":
        return b"x"
    raise AssertionError(f"no sample for a {kind}")


def canonical_query(query: str) -> str:
    """SigV4's canonical query string ("Create a canonical request"), from the bytes sent.

    A ``%`` that starts no escape stands for itself; every byte but the unreserved
    characters is encoded; pairs are sorted. Written from the spec, not the emulator.
    """
    pairs = []
    for part in filter(None, query.split("&")):
        name, _, value = part.partition("=")
        pairs.append(
            tuple(quote_from_bytes(_unescape(text), safe="-_.~") for text in (name, value))
        )
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def _unescape(text: str) -> bytes:
    return re.sub(
        rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), text.encode("latin-1")
    )


@dataclass(frozen=True)
class Case:
    """One bad request: which operation and member, where the bad value travels."""

    service: str
    operation: str
    member: str
    where: str
    value: str | bytes

    @property
    def label(self) -> str:
        return f"{self.service}:{self.operation}.{self.member}@{self.where}={self.value!r}"


@dataclass(frozen=True)
class Wire:
    """A request as sent: raw path and query, headers and body bytes."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


def _cases_for(service: str, model: ServiceModel, operation: str) -> Iterator[tuple[Case, Wire]]:
    shape = model.operation_model(operation).input_shape
    if shape is None:
        return
    base = sample(shape)
    for member_name, member in shape.members.items():
        if member.type_name != "string" or member.serialization.get("jsonvalue"):
            continue
        params = {**base, member_name: MARKER}
        req = botocore_request(model, operation, params, validate=False)
        yield from _variants(service, operation, member_name, req)


def _variants(
    service: str, operation: str, member: str, req: AwsHttpRequest
) -> Iterator[tuple[Case, Wire]]:
    headers = {
        name: value
        for name, value in req.headers.items()
        if name.lower() not in ("content-length", "user-agent", "host")
    }
    body = req.body
    marker = MARKER.encode()

    def wire(**changes: Any) -> Wire:
        fields = {"path": req.path, "query": req.query_string, "headers": headers, "body": body}
        fields.update(changes)
        return Wire(req.method, **fields)

    if MARKER in req.path:
        for value in ENCODED:
            case = Case(service, operation, member, "uri", value)
            yield case, wire(path=req.path.replace(MARKER, value))
    if MARKER in req.query_string:
        for value in ENCODED:
            case = Case(service, operation, member, "query", value)
            yield case, wire(query=req.query_string.replace(MARKER, value))
    for name, text in headers.items():
        if MARKER in text:
            for value in HEADER_VALUES:
                case = Case(service, operation, member, "header", value)
                yield case, wire(headers={**headers, name: text.replace(MARKER, value)})
    if marker in body and body.lstrip().startswith(b"{"):
        for raw in JSON_VALUES:
            case = Case(service, operation, member, "json", raw)
            yield case, wire(body=body.replace(marker, raw))
    elif marker in body:
        for value in ENCODED:
            case = Case(service, operation, member, "form", value)
            yield case, wire(body=body.replace(marker, value.encode()))
        for raw in RAW_FORM:
            case = Case(service, operation, member, "form-raw", raw)
            yield case, wire(body=body.replace(marker, raw))


def operations(service: str) -> list[str]:
    """The operations the emulator serves, and a fixed sample of those it does not."""
    model = load_service_model(service)
    served = sorted(SERVED[service])
    others = sorted(set(model.operation_names) - SERVED[service])
    step = max(1, len(others) // SAMPLE_SIZE[service])
    sampled = others[::step][: SAMPLE_SIZE[service]]
    also = [name for name in ALSO.get(service, ()) if name not in sampled]
    return served + sampled + also


def all_cases() -> list[tuple[Case, Wire]]:
    cases: list[tuple[Case, Wire]] = []
    for service in SERVED:
        model = load_service_model(service)
        for operation in operations(service):
            cases.extend(_cases_for(service, model, operation))
    return cases


# --- sending --------------------------------------------------------------------------------


def send(client: Client, wire: Wire, credentials: Credentials | None, service: str) -> Any:
    """Sign the bytes as an SDK would (unless unsigned) and send them through Django."""
    host = urlsplit(ENDPOINT).netloc
    headers = dict(wire.headers)
    if credentials is not None:
        canonical = canonical_query(wire.query)
        signing = AWSRequest(
            method=wire.method,
            url=f"http://{host}{wire.path}" + (f"?{canonical}" if canonical else ""),
            data=wire.body,
            headers={**headers, "Host": host},
        )
        SigV4Auth(credentials, service, "us-east-1").add_auth(signing)
        headers = {name: str(value) for name, value in signing.headers.items()}
    target = wire.path + (f"?{wire.query}" if wire.query else "")
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    extra = {k: v for k, v in headers.items() if k.lower() not in ("content-type", "host")}
    return client.generic(
        wire.method,
        target,
        data=wire.body,
        content_type=content_type,
        headers={**extra, "Host": host},
        RAW_URI=target,  # the raw request target, as gunicorn gives it
        REMOTE_ADDR="127.0.0.1",
    )


def error_code(service: str, body: bytes, headers: Any) -> str:
    """The AWS error code of a response, checking that its body parses."""
    if service == "connect":
        json.loads(body)
        return str(headers.get("x-amzn-ErrorType", ""))
    root = etree.fromstring(body)
    return str(root.findtext("{*}Error/{*}Code"))


def error_message(service: str, body: bytes) -> str:
    if service == "connect":
        return str(json.loads(body).get("Message", ""))
    return str(etree.fromstring(body).findtext("{*}Error/{*}Message"))


# --- the sweep ------------------------------------------------------------------------------


def test_bad_characters_in_every_string_parameter_get_the_services_400() -> None:
    _, key_id, secret = accounts.bootstrap(ACCOUNT_ID)
    credentials = Credentials(key_id, secret)
    client = Client(raise_request_exception=False)
    cases = all_cases()
    failures: list[str] = []
    server_errors: list[str] = []
    for case, wire in cases:
        signed = (case.service, case.operation) not in UNSIGNED
        response = send(client, wire, credentials if signed else None, case.service)
        status = response.status_code
        if status >= 500:
            server_errors.append(f"{status} {case.label}")
            continue
        try:
            code = error_code(case.service, response.content, response.headers)
            message = error_message(case.service, response.content)
        except (ValueError, etree.XMLSyntaxError) as exc:
            failures.append(f"{status} unparseable body ({exc}) {case.label}")
            continue
        expected = REST_JSON_CODES if case.service == "connect" else QUERY_CODES
        if status != 400 or code not in expected:
            failures.append(f"{status} {code} {case.label}: {message[:160]}")
        elif _UNPRINTABLE.search(message):
            failures.append(f"raw control character echoed {case.label}")
    assert server_errors == []
    assert failures == []
    # The sweep is not vacuous: every served operation with a string member was reached.
    reached = {(case.service, case.operation) for case, _ in cases}
    for service, served in SERVED.items():
        model = load_service_model(service)
        for operation in served:
            shape = model.operation_model(operation).input_shape
            if shape is not None and any(m.type_name == "string" for m in shape.members.values()):
                assert (service, operation) in reached, operation
    assert len(cases) > 900
