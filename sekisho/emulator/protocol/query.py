"""The AWS ``query`` protocol (IAM, STS), server side, driven by botocore's service models.

Requests are ``Action=…&Version=…`` form parameters (POST body or query string) whose
names flatten the operation's input shape: ``Tags.member.1.Key``, ``Map.entry.1.key``,
``Struct.Member`` (IAM API Reference, "Making query requests"; botocore's
``QuerySerializer`` is the client-side counterpart this module inverts). Responses are
``<{Operation}Response xmlns="{xmlNamespace}"><{Operation}Result>…</…Result>
<ResponseMetadata><RequestId>…`` and errors are ``<ErrorResponse><Error><Type>…<Code>…
<Message>…</Error><RequestId>…`` (IAM API Reference, "Common Errors"), the XML that
botocore's ``QueryParser`` reads.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from lxml import etree

from sekisho.emulator.errors import AwsError, ResultShapeError, printable
from sekisho.emulator.protocol.http import (
    AwsHttpRequest,
    AwsHttpResponse,
    decode_form,
    decode_query,
)
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

_FORM_TYPE = "application/x-www-form-urlencoded"
_MAX_PARAMETERS = 10_000
_INTEGER = re.compile(r"-?\d+", re.ASCII)
_ELEMENT_NUMBER = re.compile(r"[1-9][0-9]*", re.ASCII)
# IAM returns every policy document URL-encoded per RFC 3986 (IAM API Reference, e.g.
# GetRolePolicy: "The policy document returned in this structure is URL-encoded
# compliant with RFC 3986"); botocore decodes any string of this shape. Handlers give
# the plain JSON text.
_URL_ENCODED = {("iam", "policyDocumentType")}


class _Absent:
    """Marks a member that the request does not carry."""


_ABSENT = _Absent()


# --- requests ---------------------------------------------------------------------------------


def _invalid_query(message: str) -> AwsError:
    return AwsError("InvalidQueryParameter", message, http_status=400)


def _validation_error(problems: list[str]) -> AwsError:
    return AwsError("ValidationError", validation_message(problems), http_status=400)


def _request_parameters(req: AwsHttpRequest) -> dict[str, str]:
    """Merge query-string and form-body parameters; a name may appear only once.

    Nothing undecodable is refused here: text that is not UTF-8 or not well
    percent-encoded stays in the values (``percent_decode``), so that validation names
    the member it was sent for, as AWS's ValidationError does.
    """
    pairs: list[tuple[str, str]] = list(decode_query(req.query_string))
    if req.body:
        content_type = req.headers.get("content-type", _FORM_TYPE)
        if content_type.split(";")[0].strip().lower() != _FORM_TYPE:
            raise _invalid_query(
                f"Content-Type {content_type!r} is not supported, expected {_FORM_TYPE}"
            )
        if req.body.count(b"&") >= _MAX_PARAMETERS:
            raise _invalid_query(f"More than {_MAX_PARAMETERS} request parameters")
        text = req.body.decode("utf-8", "surrogateescape")
        pairs.extend(decode_form(text, plus_is_space=True))
    if len(pairs) > _MAX_PARAMETERS:
        raise _invalid_query(f"More than {_MAX_PARAMETERS} request parameters")
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            # Not documented by AWS; the strict reading: one value per parameter name.
            raise _invalid_query(f"The parameter {name} appears more than once")
        params[name] = value
    return params


def parse_query_request(
    req: AwsHttpRequest, service_model: ServiceModel
) -> tuple[OperationModel, dict[str, Any]]:
    """Read a query-protocol request into its operation and input parameters.

    Parameters the input shape does not know (such as presigned ``X-Amz-*`` ones) are
    ignored, as AWS does.

    Raises:
        AwsError: ``MissingAction``, ``InvalidAction`` (unknown Action or Version),
            ``MissingParameter`` (no Version), ``InvalidQueryParameter`` (too many or
            repeated parameters) or ``ValidationError`` (wrong types, missing required
            members, broken model constraints), all 400.
    """
    params = _request_parameters(req)
    action = params.get("Action")
    if not action:
        raise AwsError("MissingAction", "Missing Action", http_status=400)
    version = params.get("Version")
    if version is None:
        raise AwsError(
            "MissingParameter", "The request must contain the parameter Version", http_status=400
        )
    if action not in service_model.operation_names or version != service_model.metadata.get(
        "apiVersion"
    ):
        raise AwsError(
            "InvalidAction",
            f"Could not find operation {action} for version {version}",
            http_status=400,
        )
    operation = service_model.operation_model(action)
    shape = operation.input_shape
    if shape is None:
        return operation, {}
    problems: list[str] = []
    parsed = _read_structure(shape, "", _Params(params), "", problems)
    if problems:
        raise _validation_error(problems)
    result = {} if isinstance(parsed, _Absent) else parsed
    problems = validate_input(shape, result)
    if problems:
        raise _validation_error(problems)
    return operation, result


def _serialized_name(shape: Shape, default: str) -> str:
    return str(shape.serialization.get("name", default))


class _Params:
    """The request's parameters, indexed by dotted prefix for the shape walk."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = values
        self._children: dict[str, set[str]] = {}
        for name in values:
            parts = name.split(".")
            for depth in range(1, len(parts)):
                self._children.setdefault(".".join(parts[:depth]), set()).add(parts[depth])

    def __contains__(self, name: str) -> bool:
        return name in self._values

    def __getitem__(self, name: str) -> str:
        return self._values[name]

    def get(self, name: str) -> str | None:
        return self._values.get(name)

    def has_children(self, prefix: str) -> bool:
        """Whether some parameter is named ``prefix.…``."""
        return prefix in self._children

    def children(self, prefix: str) -> set[str]:
        """The name parts that follow ``prefix.`` in parameter names."""
        return self._children.get(prefix, set())


def _read(shape: Shape, key: str, params: _Params, path: str, problems: list[str]) -> Any:
    """Read the value of one shape at parameter name ``key`` (``_ABSENT`` if not sent)."""
    kind = shape.type_name
    if kind == "structure":
        return _read_structure(as_structure(shape), key, params, path, problems)
    if kind == "list":
        return _read_list(shape, key, params, path, problems)
    if kind == "map":
        return _read_map(shape, key, params, path, problems)
    if key not in params:
        return _ABSENT
    try:
        return _scalar(shape, params[key])
    except ValueError as exc:
        value = show_value(params[key])
        problems.append(f"Value {value} at '{path}' failed to satisfy constraint: {exc}")
        return _ABSENT


def _read_structure(
    shape: StructureShape, key: str, params: _Params, path: str, problems: list[str]
) -> dict[str, Any] | _Absent:
    if key and not params.has_children(key):
        return _ABSENT
    result: dict[str, Any] = {}
    for name, member in shape.members.items():
        member_key = _serialized_name(member, name)
        if member.type_name == "list" and member.serialization.get("flattened"):
            # botocore names a flattened list by its member's name when it has one.
            member_key = _serialized_name(as_list(member).member, member_key)
        full_key = f"{key}.{member_key}" if key else member_key
        member_path = f"{path}.{lower_camel(name)}" if path else lower_camel(name)
        value = _read(member, full_key, params, member_path, problems)
        if not isinstance(value, _Absent):
            result[name] = value
    return result


def _indexed(params: _Params, prefix: str) -> list[int] | None:
    """The element numbers N under ``prefix.N``, or None if they are not 1..n."""
    heads = params.children(prefix)
    if not all(_ELEMENT_NUMBER.fullmatch(head) for head in heads):
        return None
    ordered = sorted(int(head) for head in heads)
    # Not documented by AWS; the strict reading: elements are numbered 1, 2, … n.
    return ordered if ordered == list(range(1, len(ordered) + 1)) else None


def _read_list(
    shape: Shape, key: str, params: _Params, path: str, problems: list[str]
) -> list[Any] | _Absent:
    member = as_list(shape).member
    if params.get(key) == "":
        return []  # botocore sends an empty list as "Name="
    if shape.serialization.get("flattened"):
        prefix = key
    else:
        prefix = f"{key}.{_serialized_name(member, 'member')}"
    if not params.has_children(prefix):
        return _ABSENT
    numbers = _indexed(params, prefix)
    if numbers is None:
        problems.append(
            f"Value at '{path}' failed to satisfy constraint: list elements must "
            f"be numbered {prefix}.1, {prefix}.2, …"
        )
        return _ABSENT
    items: list[Any] = []
    for number in numbers:
        value = _read(member, f"{prefix}.{number}", params, f"{path}.{number}.member", problems)
        items.append(None if isinstance(value, _Absent) else value)
    return items


def _read_map(
    shape: Shape, key: str, params: _Params, path: str, problems: list[str]
) -> dict[str, Any] | _Absent:
    map_shape = as_map(shape)
    prefix = key if shape.serialization.get("flattened") else f"{key}.entry"
    if not params.has_children(prefix):
        return _ABSENT
    numbers = _indexed(params, prefix)
    if numbers is None:
        problems.append(
            f"Value at '{path}' failed to satisfy constraint: map entries must "
            f"be numbered {prefix}.1, {prefix}.2, …"
        )
        return _ABSENT
    key_name = _serialized_name(map_shape.key, "key")
    value_name = _serialized_name(map_shape.value, "value")
    result: dict[str, Any] = {}
    for number in numbers:
        entry = f"{prefix}.{number}"
        entry_key = _read(map_shape.key, f"{entry}.{key_name}", params, f"{path}.key", problems)
        if isinstance(entry_key, _Absent):
            problems.append(
                f"Value null at '{path}.key' failed to satisfy constraint: Member must not be null"
            )
            continue
        value = _read(
            map_shape.value, f"{entry}.{value_name}", params, f"{path}.{entry_key}", problems
        )
        result[entry_key] = None if isinstance(value, _Absent) else value
    return result


def _scalar(shape: Shape, text: str) -> Any:
    """Convert one parameter's text by the shape's type.

    Raises:
        ValueError: with the rule the text breaks, as a validation message words it.
    """
    kind = shape.type_name
    if kind in ("string", "character"):
        return text
    if kind in ("integer", "long"):
        if not _INTEGER.fullmatch(text):
            raise ValueError("Member must be an integer")
        return int(text)
    if kind in ("float", "double"):
        try:
            return parse_float(text)
        except ValueError:
            raise ValueError("Member must be a number") from None
    if kind == "boolean":
        if text not in ("true", "false"):
            raise ValueError("Member must be a boolean (true or false)")
        return text == "true"
    if kind == "blob":
        try:
            return base64.b64decode(text, validate=True)
        except binascii.Error:
            raise ValueError("Member must be base64-encoded binary data") from None
    if kind == "timestamp":
        fmt = str(shape.serialization.get("timestampFormat", "iso8601"))
        try:
            return parse_timestamp(text, fmt)
        except ValueError:
            raise ValueError(f"Member must be a timestamp ({fmt})") from None
    raise ValueError(f"Member has type {kind}, which the query protocol cannot carry")


# --- responses --------------------------------------------------------------------------------


def _response_headers(request_id: str) -> dict[str, str]:
    return {"x-amzn-RequestId": request_id, "Content-Type": "text/xml"}


def _to_bytes(root: etree._Element) -> bytes:
    return etree.tostring(root, encoding="utf-8", xml_declaration=False)


class _XmlWriter:
    """Writes shaped values as the XML that botocore's ``QueryParser`` reads."""

    def __init__(self, namespace: str | None, service: str = "") -> None:
        self._ns = namespace
        self._service = service

    def tag(self, name: str) -> str:
        return f"{{{self._ns}}}{name}" if self._ns else name

    def root(self, name: str) -> etree._Element:
        nsmap = {None: self._ns} if self._ns else None
        return etree.Element(self.tag(name), nsmap=nsmap)

    def child(self, parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
        node = etree.SubElement(parent, self.tag(name))
        if text is not None:
            try:
                node.text = text
            except ValueError as exc:  # lxml refuses text XML 1.0 cannot carry
                raise ResultShapeError(f"{name}: {exc}") from exc
        return node

    def members(self, parent: etree._Element, shape: StructureShape, value: Any, path: str) -> None:
        if not isinstance(value, Mapping):
            raise ResultShapeError(f"{path or shape.name}: expected a dict, got {_kind(value)}")
        unknown = set(value) - set(shape.members)
        if unknown:
            raise ResultShapeError(
                f"{path or shape.name}: {sorted(unknown)} not in shape {shape.name}"
            )
        for name, member in shape.members.items():
            item = value.get(name)
            if item is None:
                continue
            member_path = f"{path}.{name}" if path else name
            if member.type_name == "list" and member.serialization.get("flattened"):
                element_name = _serialized_name(
                    as_list(member).member, _serialized_name(member, name)
                )
                self.flat_list(parent, member, item, element_name, member_path)
            elif member.type_name == "map" and member.serialization.get("flattened"):
                self.flat_map(parent, member, item, _serialized_name(member, name), member_path)
            else:
                self.value(parent, _serialized_name(member, name), member, item, member_path)

    def value(self, parent: etree._Element, name: str, shape: Shape, value: Any, path: str) -> None:
        kind = shape.type_name
        if kind == "structure":
            self.members(self.child(parent, name), as_structure(shape), value, path)
        elif kind == "list":
            node = self.child(parent, name)
            element_name = _serialized_name(as_list(shape).member, "member")
            self.flat_list(node, shape, value, element_name, path)
        elif kind == "map":
            self.flat_map(self.child(parent, name), shape, value, "entry", path)
        else:
            text = _scalar_text(shape, value, path)
            if (self._service, shape.name) in _URL_ENCODED:
                text = quote(text, safe="")
            self.child(parent, name, text)

    def flat_list(
        self, parent: etree._Element, shape: Shape, value: Any, element: str, path: str
    ) -> None:
        if not isinstance(value, list | tuple):
            raise ResultShapeError(f"{path}: expected a list, got {_kind(value)}")
        member = as_list(shape).member
        for index, item in enumerate(value):
            self.value(parent, element, member, item, f"{path}[{index}]")

    def flat_map(
        self, parent: etree._Element, shape: Shape, value: Any, entry: str, path: str
    ) -> None:
        if not isinstance(value, Mapping):
            raise ResultShapeError(f"{path}: expected a dict, got {_kind(value)}")
        map_shape = as_map(shape)
        key_name = _serialized_name(map_shape.key, "key")
        value_name = _serialized_name(map_shape.value, "value")
        for key, item in value.items():
            node = self.child(parent, entry)
            self.value(node, key_name, map_shape.key, key, f"{path}[{key!r}]")
            self.value(node, value_name, map_shape.value, item, f"{path}[{key!r}]")


def _kind(value: Any) -> str:
    return type(value).__name__


def _scalar_text(shape: Shape, value: Any, path: str) -> str:
    """One scalar as query-protocol XML text.

    Raises:
        ResultShapeError: the value's Python type does not fit the shape's type.
    """
    kind = shape.type_name
    if kind in ("string", "character") and isinstance(value, str):
        return value
    if kind in ("integer", "long") and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if (
        kind in ("float", "double")
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    ):
        return str(format_float(float(value)))
    if kind == "boolean" and isinstance(value, bool):
        return "true" if value else "false"
    if kind == "blob" and isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if kind == "timestamp" and isinstance(value, datetime):
        fmt = str(shape.serialization.get("timestampFormat", "iso8601"))
        return str(format_timestamp(value, fmt))
    raise ResultShapeError(f"{path}: a {kind} cannot be written from {_kind(value)}")


def _namespace(service_model: ServiceModel | None) -> str | None:
    if service_model is None:
        return None
    namespace = service_model.metadata.get("xmlNamespace")
    return str(namespace) if namespace else None


def serialize_query_response(
    operation_model: OperationModel, result: Mapping[str, Any], *, request_id: str
) -> AwsHttpResponse:
    """Write an operation's result as AWS's query-protocol XML response (HTTP 200).

    Raises:
        ResultShapeError: the result does not fit the operation's output shape.
    """
    metadata = operation_model.metadata
    writer = _XmlWriter(
        str(metadata.get("xmlNamespace") or "") or None, str(metadata.get("endpointPrefix", ""))
    )
    root = writer.root(f"{operation_model.name}Response")
    shape = operation_model.output_shape
    if shape is not None:
        wrapper = str(shape.serialization.get("resultWrapper", f"{operation_model.name}Result"))
        writer.members(writer.child(root, wrapper), shape, result, "")
    elif result:
        raise ResultShapeError(f"{operation_model.name} returns no data, got {sorted(result)}")
    response_metadata = writer.child(root, "ResponseMetadata")
    writer.child(response_metadata, "RequestId", request_id)
    return AwsHttpResponse(200, _response_headers(request_id), _to_bytes(root))


def serialize_query_error(
    error: AwsError, *, request_id: str, service_model: ServiceModel | None = None
) -> AwsHttpResponse:
    """Write an error as AWS's query-protocol ``<ErrorResponse>`` with its HTTP status.

    ``service_model`` supplies the ``xmlns`` the service puts on the root element.
    """
    writer = _XmlWriter(_namespace(service_model))
    root = writer.root("ErrorResponse")
    node = writer.child(root, "Error")
    writer.child(node, "Type", "Sender" if error.sender_fault else "Receiver")
    # AwsError keeps its message printable; the code is escaped too, so that no text an
    # error carries can make its own XML fail (XML 1.0 cannot write most C0 controls).
    writer.child(node, "Code", printable(error.code))
    writer.child(node, "Message", printable(error.message))
    writer.child(root, "RequestId", request_id)
    return AwsHttpResponse(error.http_status, _response_headers(request_id), _to_bytes(root))
