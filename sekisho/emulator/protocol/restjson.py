"""The AWS ``rest-json`` protocol (Amazon Connect), server side, driven by botocore's models.

An operation is found by HTTP method and the model's ``requestUri`` template
(``/users/{InstanceId}/{UserId}``, greedy ``/{Key+}``, constant query parameters as in
``/tags?operation=tag-resource``); input members come from the URI, the query string,
headers and the JSON body by their ``location`` trait; responses put members back the
same way with the status from ``http.responseCode`` (Smithy "AWS restJson1 protocol";
botocore's ``RestJSONSerializer`` and ``RestJSONParser`` are the client side). Errors
carry ``x-amzn-ErrorType`` and a JSON body with the message.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from sekisho.emulator.errors import AwsError, ResultShapeError
from sekisho.emulator.protocol.http import AwsHttpRequest, AwsHttpResponse, percent_decode
from sekisho.emulator.protocol.shapes import (
    OperationModel,
    ServiceModel,
    Shape,
    StructureShape,
    as_list,
    as_map,
    as_structure,
    format_float,
    format_timestamp,
    lower_camel,
    parse_float,
    parse_timestamp,
    show_value,
    validate_input,
    validation_message,
)

_INTEGER = re.compile(r"-?\d+", re.ASCII)
_LABEL = re.compile(r"\{([^}]+)\}")


# --- routing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Route:
    method: str
    regex: re.Pattern[str]
    labels: tuple[tuple[str, str, bool], ...]  # (regex group, label name, greedy)
    query: tuple[tuple[str, str | None], ...]  # constant query parameters of the template
    rank: tuple[int, int, int, int]
    operation: str


def _template_query(query: str) -> list[tuple[str, str | None]]:
    """The constant query parameters of a requestUri template (a value of None: any)."""
    constants: list[tuple[str, str | None]] = []
    for part in query.split("&") if query else []:
        name, has_value, value = part.partition("=")
        constants.append((unquote(name), unquote(value) if has_value else None))
    return constants


def _compile_route(operation: OperationModel) -> _Route:
    template = str(operation.http["requestUri"])
    path, _, query = template.partition("?")
    pattern: list[str] = []
    labels: list[tuple[str, str, bool]] = []
    position = 0
    literal_chars = 0
    for index, match in enumerate(_LABEL.finditer(path)):
        literal = path[position : match.start()]
        literal_chars += len(literal)
        pattern.append(re.escape(literal))
        label = match.group(1)
        greedy = label.endswith("+")
        group = f"g{index}"
        pattern.append(f"(?P<{group}>.+)" if greedy else f"(?P<{group}>[^/]+)")
        labels.append((group, label.rstrip("+"), greedy))
        position = match.end()
    pattern.append(re.escape(path[position:]))
    literal_chars += len(path) - position
    constants = _template_query(query)
    greedy_count = sum(1 for _, _, greedy in labels if greedy)
    # Most specific first: constant query parameters, literal text, fewer greedy labels.
    rank = (len(constants), literal_chars, -greedy_count, len(labels))
    return _Route(
        method=str(operation.http.get("method", "POST")).upper(),
        regex=re.compile("".join(pattern)),
        labels=tuple(labels),
        query=tuple(constants),
        rank=rank,
        operation=operation.name,
    )


_ROUTES: weakref.WeakKeyDictionary[Any, tuple[_Route, ...]] = weakref.WeakKeyDictionary()


def _routes(service_model: ServiceModel) -> tuple[_Route, ...]:
    routes = _ROUTES.get(service_model)
    if routes is None:
        compiled = [
            _compile_route(service_model.operation_model(name))
            for name in service_model.operation_names
        ]
        routes = tuple(sorted(compiled, key=lambda route: route.rank, reverse=True))
        _ROUTES[service_model] = routes
    return routes


def _unknown_operation(req: AwsHttpRequest) -> AwsError:
    return AwsError(
        "UnknownOperationException",
        f"No operation matches {req.method} {req.path}",
        http_status=404,
    )


def match_rest_json_operation(
    req: AwsHttpRequest, service_model: ServiceModel, *, base_path: str = ""
) -> tuple[OperationModel, dict[str, str]]:
    """Find the operation a rest-json request targets, with its decoded URI labels.

    ``base_path`` is where the endpoint is mounted (``/aws`` for
    ``endpoint_url="http://host/aws"``); it is removed from ``req.path`` first.

    Raises:
        AwsError: ``UnknownOperationException`` (404) when no operation matches.
    """
    path = req.path
    base = base_path.rstrip("/")
    if base:
        if path != base and not path.startswith(base + "/"):
            raise _unknown_operation(req)
        path = path[len(base) :] or "/"
    query = req.query_pairs()
    for route in _routes(service_model):
        if route.method != req.method:
            continue
        match = route.regex.fullmatch(path)
        if match is None or not _query_matches(route, query):
            continue
        # Undecodable label text is kept (percent_decode) for validation to refuse by name.
        labels = {name: percent_decode(match.group(group)) for group, name, _greedy in route.labels}
        return service_model.operation_model(route.operation), labels
    raise _unknown_operation(req)


def _query_matches(route: _Route, query: list[tuple[str, str]]) -> bool:
    for name, value in route.query:
        values = [item for key, item in query if key == name]
        if not values or (value is not None and value not in values):
            return False
    return True


# --- requests ---------------------------------------------------------------------------------


def _serialization_error(message: str) -> AwsError:
    return AwsError("SerializationException", message, http_status=400)


def _validation_error(operation_model: OperationModel, problems: list[str]) -> AwsError:
    """The operation's own validation exception (not documented by AWS for Connect).

    AWS's request validation answers with the service's validation exception; the
    strict reading here picks the first of ``ValidationException``,
    ``InvalidParameterException``, ``InvalidRequestException`` that the operation
    declares, else ``ValidationException`` 400.

    For Amazon Connect that is ``InvalidParameterException`` (400): Connect models no
    ``ValidationException``, and its model documents ``InvalidParameterException`` as
    "One or more of the specified parameters are not valid" (a member breaking its
    constraints, a control character or undecodable byte included), while
    ``InvalidRequestException`` is "The request is not valid" (the request as a whole).
    Most operations declare ``InvalidParameterException``; those that declare only
    ``InvalidRequestException`` get that, so the error is always one the operation
    declares and the SDK's modeled exception class catches it.
    """
    declared = {shape.name: shape for shape in operation_model.error_shapes}
    message = validation_message(problems)
    for name in ("ValidationException", "InvalidParameterException", "InvalidRequestException"):
        shape = declared.get(name)
        if shape is not None:
            status = int(shape.metadata.get("error", {}).get("httpStatusCode", 400))
            return AwsError(name, message, http_status=status)
    return AwsError("ValidationException", message, http_status=400)


def parse_rest_json_request(
    req: AwsHttpRequest, operation_model: OperationModel, path_params: Mapping[str, str]
) -> dict[str, Any]:
    """Read a rest-json request's input members from URI, query string, headers and body.

    Raises:
        AwsError: ``SerializationException`` (malformed JSON or wrong JSON types) or the
            operation's validation exception (missing required members, broken model
            constraints), both 400.
    """
    shape = operation_model.input_shape
    if shape is None:
        return {}
    problems: list[str] = []
    query = req.query_pairs()
    # A query-string map member takes the parameters that neither another member nor
    # the requestUri template (``?operation=tag-resource``) names.
    claimed = {
        str(member.serialization.get("name", name))
        for name, member in shape.members.items()
        if member.serialization.get("location") == "querystring" and member.type_name != "map"
    }
    template_query = str(operation_model.http["requestUri"]).partition("?")[2]
    claimed.update(name for name, _value in _template_query(template_query))
    result: dict[str, Any] = {}
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = str(member.serialization.get("name", name))
        path = lower_camel(name)
        value: Any = None
        if location == "uri":
            if wire in path_params:
                value = _text_value(member, path_params[wire], "iso8601", path, problems)
        elif location == "querystring":
            value = _query_value(member, wire, query, claimed, path, problems)
        elif location == "header":
            if wire in req.headers:
                value = _header_value(member, req.headers[wire], path, problems)
        elif location == "headers":
            prefix = wire.lower()
            found = {
                header[len(prefix) :]: text
                for header, text in req.headers.items()
                if header.lower().startswith(prefix)
            }
            value = found or None
        if value is not None:
            result[name] = value
    result.update(_body_members(req, shape))
    if problems:
        raise _validation_error(operation_model, problems)
    problems = validate_input(shape, result)
    if problems:
        raise _validation_error(operation_model, problems)
    return result


def _query_value(
    member: Shape,
    wire: str,
    query: list[tuple[str, str]],
    claimed: set[str],
    name: str,
    problems: list[str],
) -> Any:
    if member.type_name == "map":
        value_shape = as_map(member).value
        found: dict[str, Any] = {}
        for key, text in query:
            if key in claimed:
                continue
            if value_shape.type_name == "list":
                found.setdefault(key, []).append(text)
            else:
                found[key] = text
        return found or None
    texts = [text for key, text in query if key == wire]
    if not texts:
        return None
    if member.type_name == "list":
        element = as_list(member).member
        return [_text_value(element, text, "iso8601", name, problems) for text in texts]
    return _text_value(member, texts[-1], "iso8601", name, problems)


def _header_value(member: Shape, text: str, name: str, problems: list[str]) -> Any:
    if member.type_name == "list":
        element = as_list(member).member
        return [
            _text_value(element, item, "rfc822", name, problems) for item in _split_header(text)
        ]
    if member.type_name == "string" and member.serialization.get("jsonvalue"):
        try:
            return json.loads(base64.b64decode(text, validate=True))
        except (binascii.Error, ValueError):
            problems.append(
                f"Value at '{name}' failed to satisfy constraint: "
                "Member must be base64-encoded JSON"
            )
            return None
    return _text_value(member, text, "rfc822", name, problems)


def _split_header(text: str) -> list[str]:
    """Split a header list (RFC 9110 §5.6.1) honouring botocore's quoted items."""
    items = re.findall(r'\s*("(?:[^"\\]|\\.)*"|[^,]*)\s*(?:,|$)', text)
    values = [item for item in items if item != ""]
    return [
        re.sub(r"\\(.)", r"\1", item[1:-1]) if item.startswith('"') else item.strip()
        for item in values
    ]


def _text_value(
    shape: Shape, text: str, timestamp_default: str, name: str, problems: list[str]
) -> Any:
    """Convert a URI label, query value or header text by the shape's type."""
    kind = shape.type_name
    try:
        if kind in ("string", "character"):
            return text
        if kind in ("integer", "long"):
            if not _INTEGER.fullmatch(text):
                raise ValueError("Member must be an integer")
            return int(text)
        if kind in ("float", "double"):
            return parse_float(text)
        if kind == "boolean":
            if text not in ("true", "false"):
                raise ValueError("Member must be a boolean (true or false)")
            return text == "true"
        if kind == "timestamp":
            fmt = str(shape.serialization.get("timestampFormat", timestamp_default))
            return parse_timestamp(text, fmt)
        if kind == "blob":
            return base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error) as exc:
        problems.append(f"Value {show_value(text)} at '{name}' failed to satisfy constraint: {exc}")
        return None
    problems.append(
        f"Value at '{name}' failed to satisfy constraint: a {kind} cannot be sent outside the body"
    )
    return None


def _body_members(req: AwsHttpRequest, shape: StructureShape) -> dict[str, Any]:
    payload = shape.serialization.get("payload")
    if payload is not None:
        member = shape.members[payload]
        if member.type_name == "blob":
            return {payload: req.body} if req.body else {}
        if member.type_name == "string":
            return {payload: _body_text(req)} if req.body else {}
        document = _json_body(req)
        return {} if document is None else {payload: _from_json(member, document, payload)}
    body_members = {
        name: member
        for name, member in shape.members.items()
        if "location" not in member.serialization
    }
    if not body_members:
        return {}
    document = _json_body(req)
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise _serialization_error("The request body must be a JSON object")
    result: dict[str, Any] = {}
    for name, member in body_members.items():
        raw = document.get(str(member.serialization.get("name", name)))
        if raw is not None:
            result[name] = _from_json(member, raw, name)
    return result


def _body_text(req: AwsHttpRequest) -> str:
    """The body as UTF-8 text; bytes that are not UTF-8 stay for validation to refuse.

    They become lone surrogates (``surrogateescape``), so a JSON string holding one is
    refused with its member's name, like a value sent as a ``\\udcff`` escape.
    """
    return req.body.decode("utf-8", "surrogateescape")


def _json_body(req: AwsHttpRequest) -> Any:
    if not req.body.strip():
        return None
    try:
        return json.loads(_body_text(req))
    except ValueError as exc:
        raise _serialization_error(f"The request body is not valid JSON: {exc}") from exc


def _from_json(shape: Shape, raw: Any, path: str) -> Any:
    """Convert one decoded JSON value by the shape's type.

    Raises:
        AwsError: ``SerializationException`` when the JSON type does not fit the shape.
    """
    kind = shape.type_name
    if kind == "structure":
        structure = as_structure(shape)
        if structure.is_document_type:
            return raw
        _expect(isinstance(raw, dict), raw, "an object", path)
        result: dict[str, Any] = {}
        for name, member in structure.members.items():
            item = raw.get(str(member.serialization.get("name", name)))
            if item is not None:
                result[name] = _from_json(member, item, f"{path}.{name}")
        return result
    if kind == "list":
        _expect(isinstance(raw, list), raw, "an array", path)
        element = as_list(shape).member
        return [
            None if item is None else _from_json(element, item, f"{path}[{index}]")
            for index, item in enumerate(raw)
        ]
    if kind == "map":
        _expect(isinstance(raw, dict), raw, "an object", path)
        value_shape = as_map(shape).value
        return {
            key: None if item is None else _from_json(value_shape, item, f"{path}.{key}")
            for key, item in raw.items()
        }
    return _json_scalar(shape, raw, path)


def _json_scalar(shape: Shape, raw: Any, path: str) -> Any:
    kind = shape.type_name
    if kind in ("string", "character"):
        _expect(isinstance(raw, str), raw, "a string", path)
        return raw
    if kind == "boolean":
        _expect(isinstance(raw, bool), raw, "a boolean", path)
        return raw
    if kind in ("integer", "long"):
        _expect(isinstance(raw, int) and not isinstance(raw, bool), raw, "an integer", path)
        return raw
    if kind in ("float", "double"):
        if isinstance(raw, str) and raw in ("NaN", "Infinity", "-Infinity"):
            return float(raw)
        _expect(isinstance(raw, int | float) and not isinstance(raw, bool), raw, "a number", path)
        return float(raw)
    if kind == "blob":
        _expect(isinstance(raw, str), raw, "a base64 string", path)
        try:
            return base64.b64decode(raw, validate=True)
        except binascii.Error:
            raise _serialization_error(f"{path}: expected base64 data") from None
    if kind == "timestamp":
        fmt = str(shape.serialization.get("timestampFormat", "unixTimestamp"))
        try:
            if isinstance(raw, int | float) and not isinstance(raw, bool):
                return parse_timestamp(repr(float(raw)), "unixTimestamp")
            if isinstance(raw, str):
                return parse_timestamp(raw, fmt)
        except ValueError as exc:
            raise _serialization_error(f"{path}: {exc}") from None
        raise _serialization_error(f"{path}: expected a timestamp, got {_json_type(raw)}")
    return raw


def _expect(ok: bool, raw: Any, expected: str, path: str) -> None:
    if not ok:
        raise _serialization_error(f"{path}: expected {expected}, got {_json_type(raw)}")


def _json_type(raw: Any) -> str:
    if isinstance(raw, bool):
        return "a boolean"
    if isinstance(raw, int | float):
        return "a number"
    if isinstance(raw, str):
        return "a string"
    if isinstance(raw, list):
        return "an array"
    if isinstance(raw, dict):
        return "an object"
    return "null"


# --- responses --------------------------------------------------------------------------------


def _to_json(shape: Shape, value: Any, path: str) -> Any:
    """One shaped value as the JSON that botocore's ``RestJSONParser`` reads.

    Raises:
        ResultShapeError: the value does not fit the shape.
    """
    kind = shape.type_name
    if kind == "structure":
        structure = as_structure(shape)
        if structure.is_document_type:
            return value
        return _json_members(structure, value, path)
    if kind == "list":
        if not isinstance(value, list | tuple):
            raise ResultShapeError(f"{path}: expected a list, got {type(value).__name__}")
        element = as_list(shape).member
        return [_to_json(element, item, f"{path}[{index}]") for index, item in enumerate(value)]
    if kind == "map":
        if not isinstance(value, Mapping):
            raise ResultShapeError(f"{path}: expected a dict, got {type(value).__name__}")
        map_shape = as_map(shape)
        return {
            str(_to_json(map_shape.key, key, path)): _to_json(
                map_shape.value, item, f"{path}[{key!r}]"
            )
            for key, item in value.items()
        }
    return _json_scalar_out(shape, value, path)


def _json_members(shape: StructureShape, value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ResultShapeError(f"{path or shape.name}: expected a dict, got {type(value).__name__}")
    unknown = set(value) - set(shape.members)
    if unknown:
        raise ResultShapeError(f"{path or shape.name}: {sorted(unknown)} not in shape {shape.name}")
    document: dict[str, Any] = {}
    for name, member in shape.members.items():
        item = value.get(name)
        if item is None or "location" in member.serialization:
            continue
        member_path = f"{path}.{name}" if path else name
        document[str(member.serialization.get("name", name))] = _to_json(member, item, member_path)
    return document


def _json_scalar_out(shape: Shape, value: Any, path: str) -> Any:
    kind = shape.type_name
    if kind in ("string", "character") and isinstance(value, str):
        return value
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind in ("integer", "long") and isinstance(value, int) and not isinstance(value, bool):
        return value
    if (
        kind in ("float", "double")
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    ):
        return format_float(float(value))
    if kind == "blob" and isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if kind == "timestamp" and isinstance(value, datetime):
        return format_timestamp(
            value, str(shape.serialization.get("timestampFormat", "unixTimestamp"))
        )
    raise ResultShapeError(f"{path}: a {kind} cannot be written from {type(value).__name__}")


def _header_text(shape: Shape, value: Any, path: str) -> str:
    kind = shape.type_name
    if kind == "list":
        element = as_list(shape).member
        texts = [_header_text(element, item, path) for item in value]
        return ",".join(
            '"' + text.replace('"', '\\"') + '"' if ("," in text or '"' in text) else text
            for text in texts
        )
    if kind == "string" and shape.serialization.get("jsonvalue"):
        encoded = json.dumps(value, separators=(",", ":")).encode("utf-8")
        return base64.b64encode(encoded).decode("ascii")
    if kind == "timestamp" and isinstance(value, datetime):
        fmt = str(shape.serialization.get("timestampFormat", "rfc822"))
        return str(format_timestamp(value, fmt))
    if kind == "boolean" and isinstance(value, bool):
        return "true" if value else "false"
    scalar = _json_scalar_out(shape, value, path)
    return scalar if isinstance(scalar, str) else str(scalar)


def _dumps(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode(
        "utf-8"
    )


def serialize_rest_json_response(
    operation_model: OperationModel, result: Mapping[str, Any], *, request_id: str
) -> AwsHttpResponse:
    """Write an operation's result as a rest-json response (body, headers, status code).

    Raises:
        ResultShapeError: the result does not fit the operation's output shape.
    """
    status = int(operation_model.http.get("responseCode", 200))
    headers: dict[str, str] = {"x-amzn-RequestId": request_id}
    shape = operation_model.output_shape
    if shape is None:
        if result:
            raise ResultShapeError(f"{operation_model.name} returns no data, got {sorted(result)}")
        return AwsHttpResponse(status, headers, b"")
    document = _json_members(shape, result, "")  # checks unknown members and body types
    for name, member in shape.members.items():
        value = result.get(name)
        location = member.serialization.get("location")
        if value is None or location is None:
            continue
        wire = str(member.serialization.get("name", name))
        if location == "header":
            headers[wire] = _header_text(member, value, name)
        elif location == "headers":
            headers.update({f"{wire}{key}": str(item) for key, item in value.items()})
        elif location == "statusCode":
            status = int(value)
    body = b""
    content_type = None
    payload = shape.serialization.get("payload")
    if payload is not None:
        value = result.get(payload)
        member = shape.members[payload]
        if isinstance(value, bytes | bytearray) and member.type_name == "blob":
            body = bytes(value)
        elif isinstance(value, str) and member.type_name == "string":
            body = value.encode("utf-8")
        elif value is not None:
            body = _dumps(_to_json(member, value, payload))
            content_type = "application/json"
    elif status != 204 and any(
        "location" not in member.serialization for member in shape.members.values()
    ):
        body = _dumps(document)
        content_type = "application/json"
    if content_type and not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = content_type
    return AwsHttpResponse(status, headers, body)


def serialize_rest_json_error(
    error: AwsError, *, request_id: str, service_model: ServiceModel | None = None
) -> AwsHttpResponse:
    """Write an error as a rest-json error response (``x-amzn-ErrorType`` and JSON body).

    The message goes into the member the service's exception shape names (``Message``
    for Amazon Connect), else ``message``; botocore reads either. Further ``fields`` of
    the error are written by that shape when ``service_model`` has it.
    """
    shape = None
    if service_model is not None:
        shape = next(
            (item for item in service_model.error_shapes if item.name == error.type_name), None
        )
    document: dict[str, Any] = {}
    message_key = "message"
    if shape is not None:
        message_key = next((name for name in shape.members if name.lower() == "message"), "message")
        fields = {key: value for key, value in error.fields.items() if key in shape.members}
        document.update(_json_members(shape, fields, shape.name))
    else:
        document.update(error.fields)
    document[message_key] = error.message
    headers = {
        "x-amzn-RequestId": request_id,
        "x-amzn-ErrorType": error.code,
        "Content-Type": "application/json",
    }
    return AwsHttpResponse(error.http_status, headers, _dumps(document))
