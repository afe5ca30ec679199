"""Amazon Connect / AWS console presets and the app-to-assertion step."""

from __future__ import annotations

from typing import Any

import pytest

from sekisho.saml.core import presets
from sekisho.saml.core.attributes import AttributeMapping, UserAttributes
from sekisho.saml.core.metadata import (
    NAMEID_EMAIL,
    NAMEID_PERSISTENT,
    NAMEID_TRANSIENT,
    NAMEID_UNSPECIFIED,
    Endpoint,
    SpMetadata,
)
from sekisho.saml.core.persistent import persistent_name_id
from sekisho.saml.core.response import ATTRNAME_FORMAT_URI, Attribute
from sekisho.saml.core.xml import BINDING_HTTP_ARTIFACT, BINDING_HTTP_POST
from sekisho.saml.errors import AcsNotRegistered, MappingError, PresetError
from tests.saml import factory

INSTANCE = factory.CONNECT_INSTANCE
ROLE = "arn:aws:iam::123456789012:role/ConnectAgent,arn:aws:iam::123456789012:saml-provider/Sekisho"


def connect(**overrides: Any) -> presets.AppDefinition:
    params: dict[str, Any] = {
        "name": "connect",
        "region": "eu-west-2",
        "instance_id": INSTANCE,
        "account_id": "123456789012",
        "role_name": "ConnectAgent",
        "provider_name": "Sekisho",
    }
    params.update(overrides)
    return presets.amazon_connect(**params)


def test_connect_defaults() -> None:
    app = connect()
    assert app.kind == "amazon-connect"
    assert app.entity_id == presets.AWS_ENTITY_ID == "urn:amazon:webservices"
    assert app.audience == "urn:amazon:webservices"
    assert app.acs_urls == ("https://signin.aws.amazon.com/saml",)
    assert (
        app.relay_state == f"https://eu-west-2.console.aws.amazon.com/connect/federate/{INSTANCE}"
    )
    assert app.name_id_format == NAMEID_UNSPECIFIED
    assert app.name_id_expression == "${user:username}"
    assert app.attribute_mappings == (
        AttributeMapping(presets.AWS_ROLE, ROLE, "uri"),
        AttributeMapping(presets.AWS_ROLE_SESSION_NAME, "${user:username}", "uri"),
    )
    assert app.sign_response is False
    assert app.sign_assertion is True
    assert app.session_duration is None
    assert app.display_name == "Amazon Connect"
    assert app.parameters_dict()["instance_id"] == INSTANCE
    assert dict(app.parameters)["region"] == "eu-west-2"


@pytest.mark.parametrize(
    ("destination", "suffix"),
    [
        ("ccp", "?destination=%2Fccp-v2%2F"),
        ("agent-app", "?destination=%2Fagent-app-v2"),
        ("/ccp-v2/softphone?x=1&y=2", "?destination=%2Fccp-v2%2Fsoftphone%3Fx%3D1%26y%3D2"),
        (None, ""),
        ("", ""),
    ],
)
def test_connect_destination(destination: str | None, suffix: str) -> None:
    relay = connect(destination=destination).relay_state
    assert relay == f"https://eu-west-2.console.aws.amazon.com/connect/federate/{INSTANCE}{suffix}"


def test_connect_acs_variants() -> None:
    assert connect(acs="regional").acs_urls == ("https://eu-west-2.signin.aws.amazon.com/saml",)
    assert connect(signin_url="http://127.0.0.1:8001/saml").acs_urls == (
        "http://127.0.0.1:8001/saml",
    )
    app = connect(console_url="http://localhost:8001/", destination="ccp")
    assert app.relay_state == (
        f"http://localhost:8001/connect/federate/{INSTANCE}?destination=%2Fccp-v2%2F"
    )


def test_connect_logout_url() -> None:
    assert dict(connect().parameters)["logout_url"] == ""
    app = connect(logout_url="https://agents.my.connect.aws/connect/logout")
    assert dict(app.parameters)["logout_url"] == "https://agents.my.connect.aws/connect/logout"


def test_connect_session_duration() -> None:
    app = connect(session_duration=43200)
    assert app.session_duration == 43200
    assert app.attribute_mappings[-1] == AttributeMapping(
        presets.AWS_SESSION_DURATION, "43200", "uri"
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": " "}, "application name"),
        ({"region": "EU-west-2"}, "AWS region like 'eu-west-2'"),
        ({"region": "cn-north-1"}, "aws-cn / aws-us-gov"),
        ({"region": "us-gov-west-1"}, "aws-cn / aws-us-gov"),
        ({"instance_id": "0F1E2D3C-4B5A-6978-8091-A2B3C4D5E6F7"}, "lowercase UUID"),
        ({"instance_id": "my-instance"}, "lowercase UUID"),
        ({"account_id": "12345678901"}, "12-digit"),
        ({"account_id": "1234567890123"}, "12-digit"),
        ({"role_name": "a" * 65}, "1-64 characters"),
        ({"role_name": "role name"}, "1-64 characters"),
        ({"role_name": "role/x"}, "1-64 characters"),
        ({"role_path": "team/"}, "IAM path"),
        ({"provider_name": "a b"}, "1-128 characters"),
        ({"provider_name": "x" * 129}, "1-128 characters"),
        ({"destination": "https://evil.example/"}, "path starting with '/'"),
        ({"destination": "//evil.example/x"}, "path starting with '/'"),
        ({"destination": "/with space"}, "path starting with '/'"),
        ({"acs": "local"}, "'global' or 'regional'"),
        ({"session_duration": 899}, "between 900 and 43200"),
        ({"session_duration": 43201}, "between 900 and 43200"),
        ({"session_duration": True}, "whole seconds"),
        ({"signin_url": "http://signin.example/saml"}, "https://"),
        ({"signin_url": "ftp://x/saml"}, "https://"),
        ({"console_url": "https://console/?q=1"}, "without query"),
        ({"logout_url": "javascript:alert(1)"}, "logout_url: expected an https://"),
        ({"logout_url": "http://agents.example/connect/logout"}, "plain http"),
        ({"logout_url": "https://a.my.connect.aws/x\nSet-Cookie: y"}, "control characters"),
    ],
)
def test_connect_validation(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(PresetError, match=message) as info:
        connect(**overrides)
    assert info.value.status is None


def test_connect_role_path() -> None:
    app = connect(role_path="/agents/")
    assert app.attribute_mappings[0].value_expression.startswith(
        "arn:aws:iam::123456789012:role/agents/ConnectAgent,"
    )


def test_aws_console() -> None:
    app = presets.aws_console(
        name="console", account_id="123456789012", role_name="ReadOnly", provider_name="Sekisho"
    )
    assert app.kind == "aws-console"
    assert app.relay_state == "https://console.aws.amazon.com/"
    assert app.acs_urls == (presets.AWS_GLOBAL_SIGNIN,)
    regional = presets.aws_console(
        name="console",
        account_id="123456789012",
        role_name="ReadOnly",
        provider_name="Sekisho",
        acs="regional",
        region="us-east-1",
        relay_state="https://us-east-1.console.aws.amazon.com/s3/home",
        session_duration=900,
    )
    assert regional.acs_urls == ("https://us-east-1.signin.aws.amazon.com/saml",)
    assert regional.relay_state == "https://us-east-1.console.aws.amazon.com/s3/home"
    with pytest.raises(PresetError, match="region"):
        presets.aws_console(
            name="c", account_id="123456789012", role_name="R", provider_name="P", acs="regional"
        )
    with pytest.raises(PresetError, match="relay_state"):
        presets.aws_console(
            name="c",
            account_id="123456789012",
            role_name="R",
            provider_name="P",
            relay_state="javascript:x",
        )


@pytest.mark.parametrize("name", ["ab", "alice", "a.b-c_d+e=f,g@h", "x" * 64])
def test_role_session_name_ok(name: str) -> None:
    assert presets.role_session_name_problem(name) is None
    assert presets.ROLE_SESSION_NAME_RE.fullmatch(name)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("a", "is 1 characters long; AWS RoleSessionName must be 2 to 64"),
        ("x" * 65, "is 65 characters long"),
        ("", "is 0 characters long"),
        ("alice smith", "contains ' '"),
        ("jürgen/ops", "contains '/', 'ü'"),
    ],
)
def test_role_session_name_problem(name: str, message: str) -> None:
    problem = presets.role_session_name_problem(name)
    assert problem is not None
    assert message in problem


def test_assertion_spec_for_connect() -> None:
    spec = presets.assertion_spec_for(
        factory.connect_app(),
        user=factory.alice(),
        issuer=factory.IDP_ENTITY_ID,
        authn_instant=factory.NOW,
        session_index="_s",
        mfa_used=True,
    )
    assert spec.destination == spec.recipient == "https://signin.aws.amazon.com/saml"
    assert spec.audience == "urn:amazon:webservices"
    assert spec.name_id == "alice"
    assert spec.name_id_format == NAMEID_UNSPECIFIED
    assert spec.sp_name_qualifier is None
    assert spec.attributes == (
        Attribute(presets.AWS_ROLE, ATTRNAME_FORMAT_URI, (ROLE,)),
        Attribute(presets.AWS_ROLE_SESSION_NAME, ATTRNAME_FORMAT_URI, ("alice",)),
        Attribute(presets.AWS_SESSION_DURATION, ATTRNAME_FORMAT_URI, ("3600",)),
    )
    assert spec.sign_assertion is True
    assert spec.sign_response is False


def test_assertion_spec_refuses_bad_role_session_name() -> None:
    user = UserAttributes(uid="u", username="alice smith")
    with pytest.raises(MappingError, match="contains ' '"):
        presets.assertion_spec_for(
            connect(),
            user=user,
            issuer="i",
            authn_instant=factory.NOW,
            session_index="s",
            mfa_used=False,
        )


SP = SpMetadata(
    entity_id="https://sp/metadata",
    acs=(
        Endpoint(BINDING_HTTP_ARTIFACT, "https://sp/artifact", 0),
        Endpoint(BINDING_HTTP_POST, "https://sp/acs", 1),
        Endpoint(BINDING_HTTP_POST, "https://sp/acs2", 2),
    ),
    signing_certificates=(),
    authn_requests_signed=False,
    want_assertions_signed=True,
    name_id_formats=(),
)


def test_saml_app_and_generated_name_ids() -> None:
    app = presets.saml_app(name="wiki", sp=SP)
    assert app.kind == "saml"
    assert app.acs_urls == ("https://sp/acs", "https://sp/acs2")
    assert app.name_id_format == NAMEID_PERSISTENT
    common: dict[str, Any] = {
        "user": factory.alice(),
        "issuer": "i",
        "authn_instant": factory.NOW,
        "session_index": "s",
        "mfa_used": False,
    }
    spec = presets.assertion_spec_for(
        app, persistent_key=b"k" * 32, acs_url="https://sp/acs2", **common
    )
    assert spec.name_id == persistent_name_id(
        key=b"k" * 32, sp_entity_id="https://sp/metadata", user_uid=factory.alice().uid
    )
    assert spec.sp_name_qualifier == "https://sp/metadata"
    assert spec.destination == "https://sp/acs2"
    with pytest.raises(ValueError, match="persistent_key"):
        presets.assertion_spec_for(app, **common)
    with pytest.raises(AcsNotRegistered):
        presets.assertion_spec_for(
            app, persistent_key=b"k" * 32, acs_url="https://sp/artifact", **common
        )
    transient = presets.assertion_spec_for(
        app, name_id_format=NAMEID_TRANSIENT, new_id=factory.id_source("_t"), **common
    )
    assert transient.name_id == "_t0001"
    assert transient.name_id_format == NAMEID_TRANSIENT
    with pytest.raises(ValueError, match="new_id"):
        presets.assertion_spec_for(app, name_id_format=NAMEID_TRANSIENT, **common)
    email = presets.saml_app(
        name="wiki", sp=SP, name_id_format=NAMEID_EMAIL, name_id_expression="${user:email}"
    )
    assert presets.assertion_spec_for(email, **common).name_id == "alice@example.test"
    with pytest.raises(MappingError, match="one NameID value"):
        presets.assertion_spec_for(
            email, **{**common, "user": UserAttributes(uid="u", username="b")}
        )


def test_saml_app_validation() -> None:
    with pytest.raises(PresetError, match="HTTP-POST ACS"):
        presets.saml_app(name="x", sp=SpMetadata("e", (SP.acs[0],), (), False, False, ()))
    with pytest.raises(PresetError, match="NameID expression"):
        presets.saml_app(name="x", sp=SP, name_id_format=NAMEID_EMAIL)
    with pytest.raises(PresetError, match="unknown placeholder"):
        presets.saml_app(
            name="x", sp=SP, name_id_format=NAMEID_EMAIL, name_id_expression="${user:x}"
        )
