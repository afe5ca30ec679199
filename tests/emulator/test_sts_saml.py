"""AssumeRoleWithSAML validation: AWS's checks, codes and messages, and SAML attacks."""

from __future__ import annotations

import base64
import copy
import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from lxml import etree

from sekisho.emulator.errors import AwsError
from sekisho.emulator.sts_saml import (
    SamlClaims,
    SamlProviderInfo,
    name_qualifier,
    validate_saml_assertion,
)
from sekisho.policy import Policy, PolicyKind, parse_policy
from sekisho.saml.core.response import Attribute
from sekisho.saml.core.xml import DS, SAMLP
from tests.saml import factory
from tests.saml.attacks import (
    assertion_of,
    evil_copy,
    evil_id_attribute_elsewhere,
    moved_signature,
    resign,
    saml_name,
    second_unsigned_assertion,
    signature_into_subject,
    xsw_new_id_keep_signature,
    xsw_original_in_extensions,
    xsw_original_in_signature_object,
    xsw_original_inside_evil,
    xsw_replace_keep_signature,
    xsw_sibling_after_same_id,
    xsw_sibling_before,
)

Element = etree._Element

ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/ConnectAgent"
PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT}:saml-provider/Sekisho"
GLOBAL = "https://signin.aws.amazon.com/saml"
REGIONAL = "https://eu-west-2.signin.aws.amazon.com/saml"
LOCAL = "http://localhost:8000/aws/saml"
ATTR = "https://aws.amazon.com/SAML/Attributes/"
PROVIDER = SamlProviderInfo(
    arn=PROVIDER_ARN,
    name="Sekisho",
    issuer_entity_id=factory.IDP_ENTITY_ID,
    signing_certificates_pem=(factory.idp_key().certificate_pem,),
)


def trust(*extra_statements: dict[str, Any], aud: Any = (GLOBAL, REGIONAL, LOCAL)) -> Policy:
    statement = {
        "Effect": "Allow",
        "Principal": {"Federated": PROVIDER_ARN},
        "Action": "sts:AssumeRoleWithSAML",
        "Condition": {"StringEquals": {"SAML:aud": list(aud)}},
    }
    document = {"Version": "2012-10-17", "Statement": [statement, *extra_statements]}
    return parse_policy(document, kind=PolicyKind.TRUST, name="trust")


def validate(
    xml: bytes | str,
    *,
    now: datetime = factory.NOW,
    duration_seconds: int | None = None,
    policy: Policy | None = None,
    **kwargs: Any,
) -> SamlClaims:
    value = xml if isinstance(xml, str) else base64.b64encode(xml).decode("ascii")
    arguments: dict[str, Any] = {
        "saml_assertion_b64": value,
        "role_arn": ROLE_ARN,
        "principal_arn": PROVIDER_ARN,
        "provider": PROVIDER,
        "account_id": ACCOUNT,
        "now": now,
        "duration_seconds": duration_seconds,
        "trust_policy": policy or trust(),
        "accepted_recipients": (LOCAL,),
    }
    arguments.update(kwargs)
    return validate_saml_assertion(**arguments)


def refused(xml: bytes | str, code: str, status: int, message: str, **kwargs: Any) -> None:
    with pytest.raises(AwsError) as caught:
        validate(xml, **kwargs)
    error = caught.value
    assert (error.code, error.http_status, error.message) == (code, status, message)


def invalid(xml: bytes | str, message: str, **kwargs: Any) -> None:
    refused(xml, "InvalidIdentityToken", 400, message, **kwargs)


INVALID = "Your request included an invalid SAML response."
SIGNATURE = "Response signature invalid"
DENIED = ("AccessDenied", 403, "Not authorized to perform sts:AssumeRoleWithSAML")


def aws_attributes(
    *,
    role: tuple[str, ...] = (f"{ROLE_ARN},{PROVIDER_ARN}",),
    session_name: tuple[str, ...] | None = ("alice",),
    duration: tuple[str, ...] | None = ("3600",),
    extra: tuple[Attribute, ...] = (),
) -> tuple[Attribute, ...]:
    found = [Attribute(name=ATTR + "Role", values=role)] if role else []
    if session_name is not None:
        found.append(Attribute(name=ATTR + "RoleSessionName", values=session_name))
    if duration is not None:
        found.append(Attribute(name=ATTR + "SessionDuration", values=duration))
    return (*found, *extra)


def response(**overrides: Any) -> bytes:
    return factory.connect_response(**overrides)


def tree(**overrides: Any) -> Element:
    return etree.fromstring(response(**overrides))


# ------------------------------------------------------------------ happy path


def test_valid_connect_response_gives_exact_claims() -> None:
    claims = validate(response())
    expected_qualifier = base64.b64encode(
        hashlib.sha1(
            (factory.IDP_ENTITY_ID + ACCOUNT + "/Sekisho").encode(), usedforsecurity=False
        ).digest()
    ).decode()
    assert claims == SamlClaims(
        subject="alice",
        subject_type="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
        issuer=factory.IDP_ENTITY_ID,
        audience=GLOBAL,
        name_qualifier=expected_qualifier,
        role_arn=ROLE_ARN,
        principal_arn=PROVIDER_ARN,
        role_session_name="alice",
        session_duration=3600,
        assertion_id="_id0002",
        not_on_or_after=factory.NOW + timedelta(minutes=5),
        replay_guard_until=factory.NOW + timedelta(minutes=10),
    )
    assert claims.saml_context == {
        "saml:aud": GLOBAL,
        "saml:iss": factory.IDP_ENTITY_ID,
        "saml:sub": "alice",
        "saml:sub_type": "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
        "saml:namequalifier": expected_qualifier,
        "saml:doc": f"{ACCOUNT}/Sekisho",
    }


def test_name_qualifier_matches_the_documented_example() -> None:
    # IAM User Guide, saml:namequalifier: BASE64(SHA1("https://example.com/saml" +
    # "123456789012" + "/MySAMLIdP")).
    digest = hashlib.sha1(b"https://example.com/saml123456789012/MySAMLIdP").digest()
    assert name_qualifier("https://example.com/saml", ACCOUNT, "MySAMLIdP") == (
        base64.b64encode(digest).decode()
    )


def test_persistent_subject_type_drops_the_prefix() -> None:
    claims = validate(
        response(
            name_id="opaque-1",
            name_id_format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
        )
    )
    assert (claims.subject, claims.subject_type) == ("opaque-1", "persistent")


def test_response_only_and_both_signed() -> None:
    assert validate(response(sign_response=True)).subject == "alice"
    assert validate(response(sign_response=True, sign_assertion=False)).subject == "alice"


def test_role_pair_in_either_order_and_among_several() -> None:
    swapped = aws_attributes(
        role=(f"arn:aws:iam::{ACCOUNT}:role/Other,{PROVIDER_ARN}", f"{PROVIDER_ARN},{ROLE_ARN}")
    )
    assert validate(response(attributes=swapped)).role_arn == ROLE_ARN


def test_regional_and_extra_recipients_are_accepted() -> None:
    regional = validate(response(recipient=REGIONAL, destination=REGIONAL))
    assert regional.audience == regional.saml_context["saml:aud"] == REGIONAL
    assert validate(response(recipient=LOCAL, destination=LOCAL)).audience == LOCAL


def test_audience_gives_way_to_the_recipient_in_saml_aud() -> None:
    # saml:aud is the Recipient: a trust policy naming only the regional URL refuses a
    # Response posted to the global endpoint even though the Audience is valid.
    refused(response(), *DENIED, policy=trust(aud=(REGIONAL,)))
    assert validate(response(audience=GLOBAL)).audience == GLOBAL


def test_session_duration_precedence() -> None:
    assert validate(response(), duration_seconds=900).session_duration == 900
    assert validate(response(attributes=aws_attributes(duration=("7200",)))).session_duration == (
        7200
    )
    assert validate(response(attributes=aws_attributes(duration=None))).session_duration == 3600
    longer = validate(response(), duration_seconds=7200, role_max_session_duration=43200)
    assert longer.session_duration == 7200


def test_session_not_on_or_after_is_reported() -> None:
    end = factory.NOW + timedelta(hours=1)
    assert validate(response(session_not_on_or_after=end)).session_not_on_or_after == end


def test_source_identity_and_tags_need_their_trust_actions() -> None:
    extra = (
        Attribute(name=ATTR + "SourceIdentity", values=("alice@example.test",)),
        Attribute(name=ATTR + "PrincipalTag:team", values=("blue",)),
        Attribute(name=ATTR + "TransitiveTagKeys", values=("team",)),
    )
    xml = response(attributes=aws_attributes(extra=extra))
    refused(xml, *DENIED)
    allowing = trust(
        {
            "Effect": "Allow",
            "Principal": {"Federated": PROVIDER_ARN},
            "Action": ["sts:TagSession", "sts:SetSourceIdentity"],
            "Condition": {"StringEquals": {"aws:RequestTag/team": "blue"}},
        }
    )
    claims = validate(xml, policy=allowing)
    assert claims.source_identity == "alice@example.test"
    assert claims.principal_tags == (("team", "blue"),)
    assert claims.transitive_tag_keys == ("team",)


# ------------------------------------------------------------------ parameters and encoding


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "abc",
            "1 validation error detected: Value 'abc' at 'sAMLAssertion' failed to satisfy "
            "constraint: Member must have length greater than or equal to 4",
        ),
        (
            "A" * 100_001,
            "1 validation error detected: Value '...' at 'sAMLAssertion' failed to satisfy "
            "constraint: Member must have length less than or equal to 100000",
        ),
    ],
)
def test_assertion_length(value: str, message: str) -> None:
    refused(value, "ValidationError", 400, message)


@pytest.mark.parametrize(
    "value",
    [
        "not base64 !!",
        base64.b64encode(b"<unclosed").decode(),
        base64.b64encode(b'<!DOCTYPE x [<!ENTITY e "x">]><x>&e;</x>').decode(),
        base64.b64encode(b"<samlp:AuthnRequest xmlns:samlp='" + SAMLP.encode() + b"'/>").decode(),
    ],
)
def test_malformed_assertion(value: str) -> None:
    invalid(value, INVALID)


@pytest.mark.parametrize(
    ("duration", "maximum", "message"),
    [
        (
            899,
            3600,
            "1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy "
            "constraint: Member must have value greater than or equal to 900",
        ),
        (
            43201,
            43200,
            "1 validation error detected: Value '43201' at 'durationSeconds' failed to satisfy "
            "constraint: Member must have value less than or equal to 43200",
        ),
        (3601, 3600, "Requested DurationSeconds exceeds MaxSessionDuration set for this role"),
    ],
)
def test_duration_seconds(duration: int, maximum: int, message: str) -> None:
    refused(
        response(),
        "ValidationError",
        400,
        message,
        duration_seconds=duration,
        role_max_session_duration=maximum,
    )


def test_principal_arn_must_name_the_provider() -> None:
    with pytest.raises(ValueError, match="expected the provider of"):
        validate(response(), principal_arn=f"arn:aws:iam::{ACCOUNT}:saml-provider/Other")


# ------------------------------------------------------------------ signature wrapping


def assertion_nested_deeper(root: Element) -> None:
    etree.SubElement(root, f"{{{SAMLP}}}Extensions").append(assertion_of(root))


def unsigned(root: Element) -> None:
    original = assertion_of(root)
    original.remove(original.find(f"{{{DS}}}Signature"))  # type: ignore[arg-type]


def hmac_method(root: Element) -> None:
    method = root.find(f".//{{{DS}}}SignatureMethod")
    assert method is not None
    method.set("Algorithm", "http://www.w3.org/2000/09/xmldsig#hmac-sha1")


def sha1_method(root: Element) -> None:
    method = root.find(f".//{{{DS}}}SignatureMethod")
    assert method is not None
    method.set("Algorithm", "http://www.w3.org/2000/09/xmldsig#rsa-sha1")


def attacker_resigned(root: Element) -> None:
    resign(assertion_of(root), factory.attacker_key())


@pytest.mark.parametrize(
    ("attack", "message"),
    [
        (xsw_sibling_before, INVALID),
        (xsw_sibling_after_same_id, INVALID),
        (xsw_original_inside_evil, INVALID),
        (xsw_original_in_extensions, INVALID),
        (xsw_original_in_signature_object, INVALID),
        (second_unsigned_assertion, INVALID),
        (assertion_nested_deeper, SIGNATURE),
        (xsw_replace_keep_signature, SIGNATURE),
        (xsw_new_id_keep_signature, SIGNATURE),
        (moved_signature, SIGNATURE),
        (signature_into_subject, SIGNATURE),
        (evil_id_attribute_elsewhere, SIGNATURE),
        (unsigned, SIGNATURE),
        (hmac_method, SIGNATURE),
        (sha1_method, SIGNATURE),
        (attacker_resigned, SIGNATURE),
    ],
)
def test_attacks_on_a_signed_response(attack: Callable[[Element], None], message: str) -> None:
    root = tree()
    attack(root)
    invalid(etree.tostring(root), message)


def test_wrapping_against_a_signed_response() -> None:
    root = tree(sign_response=True, sign_assertion=False)
    root.append(evil_copy(assertion_of(root), same_id=False))
    invalid(etree.tostring(root), INVALID)


def test_bad_response_signature_is_not_skipped_for_a_good_assertion_one() -> None:
    root = tree(sign_response=True)
    root.set("Destination", LOCAL)  # outside the assertion, covered only by the Response
    invalid(etree.tostring(root), SIGNATURE)


def test_attribute_edited_after_signing() -> None:
    xml = response().replace(b"role/ConnectAgent", b"role/Administrator")
    invalid(xml, SIGNATURE)


def test_comment_inside_name_id_changing_the_text_breaks_the_signature() -> None:
    xml = response(name_id="alice@example.com").replace(
        b"alice@example.com", b"alice@example.com<!---->.evil.example"
    )
    invalid(xml, SIGNATURE)


def test_comment_inside_name_id_never_truncates_the_subject() -> None:
    # The signature covers the comment-free text, so it still verifies: the full signed
    # value must be read, not the text before the comment.
    xml = response(name_id="alice@example.com").replace(
        b">alice@example.com<", b">alice@<!---->example.com<"
    )
    claims = validate(xml)
    assert claims.subject == claims.saml_context["saml:sub"] == "alice@example.com"


def test_foreign_embedded_certificate_is_ignored() -> None:
    root = tree()
    embedded = root.find(f".//{{{DS}}}X509Certificate")
    assert embedded is not None
    embedded.text = factory.attacker_key().certificate_b64
    assert validate(etree.tostring(root)).subject == "alice"
    # And an attacker's signature carrying its own certificate does not verify.
    invalid(response(key=factory.attacker_key()), SIGNATURE)


def test_any_certificate_of_the_provider_verifies() -> None:
    provider = SamlProviderInfo(
        arn=PROVIDER_ARN,
        name="Sekisho",
        issuer_entity_id=factory.IDP_ENTITY_ID,
        signing_certificates_pem=(
            factory.attacker_key().certificate_pem,
            factory.idp_key().certificate_pem,
        ),
    )
    assert validate(response(), provider=provider).subject == "alice"


# ------------------------------------------------------------------ issuer, audience, recipient


def test_wrong_issuer() -> None:
    invalid(
        response(issuer="https://other.example/idp"), "Issuer not present in specified provider"
    )


def test_wrong_response_issuer_only() -> None:
    root = tree()
    issuer = root.find(saml_name("Issuer"))
    assert issuer is not None
    issuer.text = "https://other.example/idp"
    invalid(etree.tostring(root), "Issuer not present in specified provider")


def test_wrong_audience() -> None:
    invalid(
        response(audience="https://sp.example.test/metadata"),
        "Response does not contain the required audience.",
    )


@pytest.mark.parametrize(
    "recipient",
    [
        "https://sp.example.test/acs",
        "https://signin.aws.amazon.com.evil.example/saml",
        "http://signin.aws.amazon.com/saml",
        "https://eu-west-2.signin.aws.amazon.com/saml/",
    ],
)
def test_wrong_recipient(recipient: str) -> None:
    invalid(response(recipient=recipient, destination=GLOBAL), INVALID)


def test_wrong_destination() -> None:
    invalid(response(destination="https://sp.example.test/acs", sign_response=True), INVALID)


def test_subject_confirmation_rules() -> None:
    root = tree(sign_assertion=True)
    assertion = assertion_of(root)
    subject = assertion.find(saml_name("Subject"))
    assert subject is not None
    confirmation = subject.find(saml_name("SubjectConfirmation"))
    assert confirmation is not None
    two = copy.deepcopy(root)
    two_subject = assertion_of(two).find(saml_name("Subject"))
    assert two_subject is not None
    two_subject.append(copy.deepcopy(confirmation))
    resign(assertion_of(two))
    invalid(etree.tostring(two), INVALID)
    for name in ("Recipient", "NotOnOrAfter"):
        missing = copy.deepcopy(root)
        data = assertion_of(missing).find(f".//{saml_name('SubjectConfirmationData')}")
        assert data is not None
        del data.attrib[name]
        resign(assertion_of(missing))
        invalid(etree.tostring(missing), INVALID)
    holder = copy.deepcopy(root)
    method = assertion_of(holder).find(f".//{saml_name('SubjectConfirmation')}")
    assert method is not None
    method.set("Method", "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key")
    resign(assertion_of(holder))
    invalid(etree.tostring(holder), INVALID)


def test_missing_name_id_is_access_denied() -> None:
    root = tree()
    name_id = root.find(f".//{saml_name('NameID')}")
    assert name_id is not None
    name_id.getparent().remove(name_id)  # type: ignore[union-attr]
    resign(assertion_of(root))
    refused(etree.tostring(root), *DENIED)


def test_status_not_success() -> None:
    root = tree(sign_response=True)
    code = root.find(f".//{{{SAMLP}}}StatusCode")
    assert code is not None
    code.set("Value", "urn:oasis:names:tc:SAML:2.0:status:Responder")
    resign(root)
    invalid(etree.tostring(root), INVALID)


# ------------------------------------------------------------------ time


def test_expired_after_the_window() -> None:
    after = factory.NOW + timedelta(minutes=10)  # NotOnOrAfter 09:05 + 5 min skew
    refused(response(), "ExpiredTokenException", 400, "Response has expired", now=after)
    assert validate(response(), now=after - timedelta(seconds=1)).subject == "alice"


def test_must_be_redeemed_within_five_minutes_of_issuance() -> None:
    later = factory.NOW + timedelta(minutes=10, seconds=1)
    refused(
        response(lifetime_seconds=3600),
        "ExpiredTokenException",
        400,
        "Token must be redeemed within 5 minutes of issuance",
        now=later,
    )


def test_not_yet_valid() -> None:
    invalid(response(), INVALID, now=factory.NOW - timedelta(minutes=5, seconds=1))
    assert validate(response(), now=factory.NOW - timedelta(minutes=5)).subject == "alice"


def test_session_not_on_or_after_passed() -> None:
    xml = response(session_not_on_or_after=factory.NOW + timedelta(minutes=1), lifetime_seconds=600)
    refused(
        xml,
        "ExpiredTokenException",
        400,
        "Response has expired",
        now=factory.NOW + timedelta(minutes=6),
    )


def test_replay_guard_hook() -> None:
    claims = validate(response())
    again = validate(response(), now=factory.NOW + timedelta(minutes=9))
    # The caller keys its used-ID store on this pair; the replay is its call to refuse.
    assert (again.assertion_id, again.replay_guard_until) == (
        claims.assertion_id,
        claims.replay_guard_until,
    )
    refused(
        response(),
        "ExpiredTokenException",
        400,
        "Response has expired",
        now=claims.replay_guard_until,
    )


# ------------------------------------------------------------------ AWS attributes


def test_role_attribute() -> None:
    invalid(response(attributes=aws_attributes(role=())), INVALID)
    invalid(response(attributes=aws_attributes(role=(ROLE_ARN,))), INVALID)
    invalid(response(attributes=aws_attributes(role=(f"{ROLE_ARN},{ROLE_ARN}",))), INVALID)
    other = aws_attributes(role=(f"arn:aws:iam::{ACCOUNT}:role/Admin,{PROVIDER_ARN}",))
    refused(
        response(attributes=other),
        "IDPRejectedClaim",
        403,
        "The SAML assertion's Role attribute does not grant the requested role and provider",
    )
    lowercase = (Attribute(name=ATTR + "role", values=(f"{ROLE_ARN},{PROVIDER_ARN}",)),)
    invalid(response(attributes=aws_attributes(role=(), extra=lowercase)), INVALID)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (None, "RoleSessionName is required in AuthnResponse"),
        (("a",), "RoleSessionName in AuthnResponse must match [a-zA-Z_0-9+=,.@-]{2,64}"),
        (("x" * 65,), "RoleSessionName in AuthnResponse must match [a-zA-Z_0-9+=,.@-]{2,64}"),
        (("alice smith",), "RoleSessionName in AuthnResponse must match [a-zA-Z_0-9+=,.@-]{2,64}"),
        (("alice", "bob"), "RoleSessionName in AuthnResponse must match [a-zA-Z_0-9+=,.@-]{2,64}"),
    ],
)
def test_role_session_name(values: tuple[str, ...] | None, message: str) -> None:
    invalid(response(attributes=aws_attributes(session_name=values)), message)


def test_role_session_name_edges() -> None:
    name = "a+=,.@-_" + "z" * 56
    assert validate(
        response(attributes=aws_attributes(session_name=(name,)))
    ).role_session_name == (name)


@pytest.mark.parametrize("value", ["899", "43201", "1h", ""])
def test_session_duration_attribute(value: str) -> None:
    invalid(
        response(attributes=aws_attributes(duration=(value,))),
        "SessionDuration in AuthnResponse must be an integer between 900 and 43200",
    )


def test_source_identity_must_not_start_with_aws() -> None:
    extra = (Attribute(name=ATTR + "SourceIdentity", values=("aws:alice",)),)
    invalid(
        response(attributes=aws_attributes(extra=extra)),
        "SourceIdentity in AuthnResponse must match [a-zA-Z_0-9+=,.@-]{2,64} and must not "
        "start with aws:",
    )


def test_transitive_keys_must_be_tags() -> None:
    extra = (Attribute(name=ATTR + "TransitiveTagKeys", values=("team",)),)
    invalid(response(attributes=aws_attributes(extra=extra)), INVALID)


# ------------------------------------------------------------------ trust policy


def test_trust_policy_must_allow() -> None:
    other_provider = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:saml-provider/Other"},
                    "Action": "sts:AssumeRoleWithSAML",
                }
            ],
        },
        kind=PolicyKind.TRUST,
    )
    refused(response(), *DENIED, policy=other_provider)
    deny_sub = trust(
        {
            "Effect": "Deny",
            "Principal": {"Federated": PROVIDER_ARN},
            "Action": "sts:AssumeRoleWithSAML",
            "Condition": {"StringEquals": {"saml:sub": "alice"}},
        }
    )
    refused(response(), *DENIED, policy=deny_sub)


def test_trust_policy_sees_every_saml_key() -> None:
    claims = validate(response())
    condition = {
        "StringEquals": {
            "saml:iss": factory.IDP_ENTITY_ID,
            "saml:sub_type": "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
            "saml:namequalifier": claims.name_qualifier,
            "saml:doc": f"{ACCOUNT}/Sekisho",
            "saml:aud": GLOBAL,
            "saml:sub": "alice",
        }
    }
    strict = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": PROVIDER_ARN},
                    "Action": "sts:AssumeRoleWithSAML",
                    "Condition": condition,
                }
            ],
        },
        kind=PolicyKind.TRUST,
    )
    assert validate(response(), policy=strict).subject == "alice"
