"""Protocol features IAM, STS and Connect do not use, on small models in botocore's format.

Flattened lists and maps, renamed members, header, query-string and payload members:
the generic reader and writer must handle them as botocore writes and reads them.
"""

from __future__ import annotations

import base64
import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.model import ServiceModel

from sekisho.emulator.errors import AwsError
from sekisho.emulator.protocol.query import parse_query_request, serialize_query_response
from sekisho.emulator.protocol.restjson import (
    match_rest_json_operation,
    parse_rest_json_request,
    serialize_rest_json_response,
)
from tests.emulator.harness import botocore_parse, botocore_request

MOMENT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

QUERY_MODEL = ServiceModel(
    {
        "metadata": {
            "apiVersion": "2020-01-01",
            "endpointPrefix": "demo",
            "protocol": "query",
            "serviceId": "Demo",
            "signatureVersion": "v4",
            "xmlNamespace": "https://demo.example/doc/2020-01-01/",
        },
        "operations": {
            "Put": {
                "name": "Put",
                "http": {"method": "POST", "requestUri": "/"},
                "input": {"shape": "PutInput"},
                "output": {"shape": "PutOutput", "resultWrapper": "PutResult"},
            }
        },
        "shapes": {
            "PutInput": {
                "type": "structure",
                "required": ["Name"],
                "members": {
                    "Name": {"shape": "String"},
                    "Flat": {"shape": "FlatList"},
                    "Renamed": {"shape": "FlatNamedList"},
                    "Attributes": {"shape": "Map"},
                    "FlatMap": {"shape": "FlatMap"},
                    "Nested": {"shape": "Nested"},
                    "When": {"shape": "Time"},
                    "Data": {"shape": "Blob"},
                    "Ratio": {"shape": "Double"},
                    "Big": {"shape": "Long"},
                    "Enabled": {"shape": "Boolean"},
                    "Alias": {"shape": "String", "locationName": "OtherName"},
                },
            },
            "PutOutput": {
                "type": "structure",
                "members": {
                    "Flat": {"shape": "FlatList"},
                    "Renamed": {"shape": "FlatNamedList"},
                    "Attributes": {"shape": "Map"},
                    "FlatMap": {"shape": "FlatMap"},
                    "Nested": {"shape": "Nested"},
                    "Ratio": {"shape": "Double"},
                    "Alias": {"shape": "String", "locationName": "OtherName"},
                },
            },
            "Nested": {
                "type": "structure",
                "members": {"Inner": {"shape": "Nested2"}, "Items": {"shape": "StringList"}},
            },
            "Nested2": {"type": "structure", "members": {"Value": {"shape": "Long"}}},
            "FlatList": {"type": "list", "member": {"shape": "String"}, "flattened": True},
            "FlatNamedList": {
                "type": "list",
                "member": {"shape": "String", "locationName": "Item"},
                "flattened": True,
            },
            "StringList": {"type": "list", "member": {"shape": "String", "locationName": "S"}},
            "Map": {
                "type": "map",
                "key": {"shape": "String", "locationName": "Name"},
                "value": {"shape": "Long", "locationName": "Count"},
            },
            "FlatMap": {
                "type": "map",
                "key": {"shape": "String"},
                "value": {"shape": "String"},
                "flattened": True,
            },
            "String": {"type": "string"},
            "Long": {"type": "long"},
            "Double": {"type": "double"},
            "Boolean": {"type": "boolean"},
            "Blob": {"type": "blob"},
            "Time": {"type": "timestamp"},
        },
    },
    service_name="demo",
)


def test_query_flattened_and_renamed_members_round_trip() -> None:
    params = {
        "Name": "n",
        "Flat": ["a", "b"],
        "Renamed": ["x"],
        "Attributes": {"one": 1, "two": 2},
        "FlatMap": {"k": "v", "k2": ""},
        "Nested": {"Inner": {"Value": 2**40}, "Items": ["p", "q"]},
        "When": MOMENT,
        "Data": b"\x00\xff",
        "Ratio": 0.25,
        "Big": -(2**40),
        "Enabled": False,
        "Alias": "renamed",
    }
    req = botocore_request(QUERY_MODEL, "Put", params)
    assert b"Renamed" not in req.body and b"Item.1=x" in req.body
    assert b"OtherName=renamed" in req.body
    assert parse_query_request(req, QUERY_MODEL)[1] == params
    result = {key: params[key] for key in ("Flat", "Renamed", "Attributes", "FlatMap", "Nested")}
    result["Alias"] = "out"
    result["Ratio"] = 1.5
    response = serialize_query_response(QUERY_MODEL.operation_model("Put"), result, request_id="r")
    assert b"<OtherName>out</OtherName>" in response.body
    assert b"<Flat>a</Flat><Flat>b</Flat>" in response.body
    assert b"<Attributes><entry><Name>one</Name><Count>1</Count></entry>" in response.body
    assert botocore_parse(QUERY_MODEL, "Put", response) == result


def test_query_special_floats() -> None:
    response = serialize_query_response(
        QUERY_MODEL.operation_model("Put"), {"Ratio": math.inf}, request_id="r"
    )
    assert b"<Ratio>Infinity</Ratio>" in response.body
    req = botocore_request(QUERY_MODEL, "Put", {"Name": "n", "Ratio": float("nan")})
    assert math.isnan(parse_query_request(req, QUERY_MODEL)[1]["Ratio"])


def test_query_operation_without_input_shape_members() -> None:
    with pytest.raises(AwsError) as excinfo:
        parse_query_request(botocore_request(QUERY_MODEL, "Put", {}, validate=False), QUERY_MODEL)
    assert excinfo.value.message == (
        "1 validation error detected: Value null at 'name' failed to satisfy constraint: "
        "Member must not be null"
    )


REST_MODEL = ServiceModel(
    {
        "metadata": {
            "apiVersion": "2020-01-01",
            "endpointPrefix": "demo",
            "protocol": "rest-json",
            "serviceId": "Demo",
            "signatureVersion": "v4",
        },
        "operations": {
            "PutThing": {
                "name": "PutThing",
                "http": {
                    "method": "PUT",
                    "requestUri": "/things/{Owner}/{Key+}?mode=put",
                    "responseCode": 201,
                },
                "input": {"shape": "PutThingInput"},
                "output": {"shape": "PutThingOutput"},
            },
            "GetThing": {
                "name": "GetThing",
                "http": {"method": "GET", "requestUri": "/things/{Owner}/{Key+}"},
                "input": {"shape": "GetThingInput"},
                "output": {"shape": "GetThingOutput"},
            },
        },
        "shapes": {
            "PutThingInput": {
                "type": "structure",
                "required": ["Owner", "Key"],
                "members": {
                    "Owner": {"shape": "String", "location": "uri", "locationName": "Owner"},
                    "Key": {"shape": "String", "location": "uri", "locationName": "Key"},
                    "Since": {
                        "shape": "Time",
                        "location": "querystring",
                        "locationName": "since",
                    },
                    "Ids": {"shape": "IntList", "location": "querystring", "locationName": "id"},
                    "Flag": {"shape": "Boolean", "location": "querystring", "locationName": "f"},
                    "Extra": {"shape": "QueryMap", "location": "querystring"},
                    "Modified": {
                        "shape": "Time",
                        "location": "header",
                        "locationName": "x-demo-modified",
                    },
                    "Labels": {
                        "shape": "StringList",
                        "location": "header",
                        "locationName": "x-demo-labels",
                    },
                    "Context": {
                        "shape": "JsonString",
                        "location": "header",
                        "locationName": "x-demo-context",
                    },
                    "Meta": {
                        "shape": "StringMap",
                        "location": "headers",
                        "locationName": "x-meta-",
                    },
                    "Payload": {"shape": "Body", "locationName": "payload"},
                    "Created": {"shape": "Time"},
                    "Stamp": {"shape": "IsoTime"},
                    "Data": {"shape": "Blob"},
                    "Ratio": {"shape": "Double"},
                    "Doc": {"shape": "Document"},
                },
            },
            "PutThingOutput": {
                "type": "structure",
                "members": {
                    "Version": {
                        "shape": "Integer",
                        "location": "header",
                        "locationName": "x-demo-version",
                    },
                    "Modified": {
                        "shape": "Time",
                        "location": "header",
                        "locationName": "x-demo-modified",
                    },
                    "Labels": {
                        "shape": "StringList",
                        "location": "header",
                        "locationName": "x-demo-labels",
                    },
                    "Meta": {
                        "shape": "StringMap",
                        "location": "headers",
                        "locationName": "x-meta-",
                    },
                    "Payload": {"shape": "Body", "locationName": "payload"},
                    "Ratio": {"shape": "Double"},
                },
            },
            "GetThingInput": {
                "type": "structure",
                "required": ["Owner", "Key"],
                "members": {
                    "Owner": {"shape": "String", "location": "uri", "locationName": "Owner"},
                    "Key": {"shape": "String", "location": "uri", "locationName": "Key"},
                },
            },
            "GetThingOutput": {
                "type": "structure",
                "members": {"Thing": {"shape": "Body"}},
                "payload": "Thing",
            },
            "Body": {
                "type": "structure",
                "members": {"Name": {"shape": "String"}, "When": {"shape": "Time"}},
            },
            "Document": {"type": "structure", "members": {}, "document": True},
            "IntList": {"type": "list", "member": {"shape": "Integer"}},
            "StringList": {"type": "list", "member": {"shape": "String"}},
            "QueryMap": {"type": "map", "key": {"shape": "String"}, "value": {"shape": "String"}},
            "StringMap": {"type": "map", "key": {"shape": "String"}, "value": {"shape": "String"}},
            "JsonString": {"type": "string", "jsonvalue": True},
            "String": {"type": "string"},
            "Integer": {"type": "integer"},
            "Double": {"type": "double"},
            "Boolean": {"type": "boolean"},
            "Blob": {"type": "blob"},
            "Time": {"type": "timestamp"},
            "IsoTime": {"type": "timestamp", "timestampFormat": "iso8601"},
        },
    },
    service_name="demo",
)


def test_rest_json_every_location_round_trips() -> None:
    params: dict[str, Any] = {
        "Owner": "team a",
        "Key": "dir/sub dir/file.txt",
        "Since": MOMENT,
        "Ids": [3, 1, 2],
        "Flag": True,
        "Extra": {"custom": "x y"},
        "Modified": MOMENT,
        "Labels": ["plain", "with,comma", 'with "quote"'],
        "Context": {"nested": [1, "two"]},
        "Meta": {"colour": "blue"},
        "Payload": {"Name": "n", "When": MOMENT},
        "Created": MOMENT,
        "Stamp": MOMENT,
        "Data": b"\x00binary\xff",
        "Ratio": float("-inf"),
        "Doc": {"free": ["form", 1, None, True]},
    }
    req = botocore_request(REST_MODEL, "PutThing", params)
    assert req.path == "/aws/things/team%20a/dir/sub%20dir/file.txt"
    operation, labels = match_rest_json_operation(req, REST_MODEL, base_path="/aws")
    assert operation.name == "PutThing"
    assert labels == {"Owner": "team a", "Key": "dir/sub dir/file.txt"}
    assert parse_rest_json_request(req, operation, labels) == params
    body = json.loads(req.body)
    assert body["Stamp"] == "2026-01-02T03:04:05Z" and body["Ratio"] == "-Infinity"

    result = {
        "Version": 7,
        "Modified": MOMENT,
        "Labels": ["a", "b c"],  # botocore splits response header lists on every comma
        "Meta": {"colour": "red"},
        "Payload": {"Name": "out", "When": MOMENT},
        "Ratio": 0.5,
    }
    response = serialize_rest_json_response(operation, result, request_id="r")
    assert response.status == 201
    assert response.headers["x-demo-modified"] == "Fri, 02 Jan 2026 03:04:05 GMT"
    assert response.headers["x-demo-labels"] == "a,b c"
    assert botocore_parse(REST_MODEL, "PutThing", response) == result


def test_rest_json_structure_payload() -> None:
    req = botocore_request(REST_MODEL, "GetThing", {"Owner": "o", "Key": "k"})
    operation, _labels = match_rest_json_operation(req, REST_MODEL, base_path="/aws")
    assert operation.name == "GetThing"  # not PutThing: no ?mode=put, and GET
    result = {"Thing": {"Name": "n", "When": MOMENT}}
    response = serialize_rest_json_response(operation, result, request_id="r")
    assert json.loads(response.body) == {"Name": "n", "When": 1767323045}
    assert botocore_parse(REST_MODEL, "GetThing", response) == result


def test_rest_json_bad_header_values() -> None:
    req = botocore_request(REST_MODEL, "PutThing", {"Owner": "o", "Key": "k", "Modified": MOMENT})
    headers = {**req.headers, "x-demo-modified": "last tuesday", "x-demo-context": "%%%"}
    bad = type(req)(req.method, req.path, req.query_string, headers, req.body)
    operation, labels = match_rest_json_operation(bad, REST_MODEL, base_path="/aws")
    with pytest.raises(AwsError) as excinfo:
        parse_rest_json_request(bad, operation, labels)
    assert excinfo.value.code == "ValidationException"
    assert "Value 'last tuesday' at 'modified'" in excinfo.value.message
    assert "Member must be base64-encoded JSON" in excinfo.value.message
    assert base64.b64encode(b"{}")  # the well-formed case is covered by the round trip
