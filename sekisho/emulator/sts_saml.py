"""STS AssumeRoleWithSAML: validate a SAML Response as AWS does (pure core, no HTTP).

Sources (docs.aws.amazon.com): STS API Reference "AssumeRoleWithSAML"; IAM User Guide
"Configuring SAML assertions for the authentication response" and "Available keys for
SAML-based federation". Where AWS documents no behaviour (accepted algorithms, clock
skew, most error messages) the strict reading is taken and the code says so.

Security rules (the same as ``sekisho.saml.core.inspector``): exactly one Assertion, a
direct child of the Response; only the Response or that Assertion may carry a signature,
every signature present must verify with a certificate of the provider's metadata
(embedded certificates are ignored, HMAC is never accepted); every value is read from the
canonical bytes a verified signature covers, never from the received tree, so a comment
inside NameID neither truncates nor alters the subject.

Replay: AWS refuses an assertion it has already redeemed. The core is stateless, so it
returns ``SamlClaims.assertion_id`` and ``SamlClaims.replay_guard_until``: the caller
refuses an ID it has seen and stores each used ID until ``replay_guard_until`` (after that
instant the assertion is refused as expired anyway).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, NoReturn

from sekisho.emulator.errors import AwsError
from sekisho.policy import Policy, Request, RequestContext, evaluate_trust
from sekisho.saml.core.dsig import VerifiedSignature, verify_element
from sekisho.saml.core.xml import (
    DS,
    SAML,
    SAMLP,
    Element,
    children,
    element_text,
    localname,
    namespace_of,
    parse_instant,
    parse_xml,
    qn,
)
from sekisho.saml.errors import SamlError

ACTION: Final = "sts:AssumeRoleWithSAML"
GLOBAL_SIGNIN: Final = "https://signin.aws.amazon.com/saml"
AWS_ENTITY_ID: Final = "urn:amazon:webservices"
# "Configuring SAML assertions": the Audience must be one of these two values.
ACCEPTED_AUDIENCES: Final = frozenset({GLOBAL_SIGNIN, AWS_ENTITY_ID})
ATTR_PREFIX: Final = "https://aws.amazon.com/SAML/Attributes/"
ATTR_ROLE: Final = ATTR_PREFIX + "Role"
ATTR_ROLE_SESSION_NAME: Final = ATTR_PREFIX + "RoleSessionName"
ATTR_SESSION_DURATION: Final = ATTR_PREFIX + "SessionDuration"
ATTR_SOURCE_IDENTITY: Final = ATTR_PREFIX + "SourceIdentity"
ATTR_PRINCIPAL_TAG: Final = ATTR_PREFIX + "PrincipalTag:"
ATTR_TRANSITIVE_TAG_KEYS: Final = ATTR_PREFIX + "TransitiveTagKeys"
BEARER: Final = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
STATUS_SUCCESS: Final = "urn:oasis:names:tc:SAML:2.0:status:Success"
NAMEID_FORMAT_PREFIX: Final = "urn:oasis:names:tc:SAML:2.0:nameid-format:"
# saml-core §8.3: a NameID without Format has the unspecified format.
NAMEID_UNSPECIFIED: Final = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"

MIN_ASSERTION_CHARS: Final = 4
MAX_ASSERTION_CHARS: Final = 100_000
MIN_DURATION: Final = 900
MAX_DURATION: Final = 43_200
DEFAULT_DURATION: Final = 3600
MAX_TAGS: Final = 50
# Observed AWS behaviour (not in the docs): an assertion older than 5 minutes is refused
# with "Token must be redeemed within 5 minutes of issuance".
REDEEM_WINDOW: Final = timedelta(minutes=5)

_SESSION_NAME: Final = re.compile(r"[a-zA-Z_0-9+=,.@-]{2,64}")
_REGIONAL_SIGNIN: Final = re.compile(
    r"https://[a-z]{2}(-[a-z]+)+-\d\.signin\.aws\.amazon\.com/saml"
)
_ROLE_ARN: Final = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/\S+")
_PROVIDER_ARN: Final = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:saml-provider/\S+")
_TAG_KEY: Final = re.compile(r"[\w\s.:/=+@-]{1,128}")

# AssumeRoleWithSAML API reference, Errors: InvalidIdentityToken (400), IDPRejectedClaim
# (403), ExpiredTokenException (400); AccessDenied (403) is the common authorization error.
MSG_INVALID: Final = "Your request included an invalid SAML response."
MSG_SIGNATURE: Final = "Response signature invalid"
MSG_ISSUER: Final = "Issuer not present in specified provider"
MSG_AUDIENCE: Final = "Response does not contain the required audience."
MSG_NOT_AUTHORIZED: Final = "Not authorized to perform sts:AssumeRoleWithSAML"
MSG_EXPIRED: Final = "Response has expired"
MSG_REDEEM: Final = "Token must be redeemed within 5 minutes of issuance"
MSG_SESSION_NAME_MISSING: Final = "RoleSessionName is required in AuthnResponse"
MSG_SESSION_NAME_INVALID: Final = (
    "RoleSessionName in AuthnResponse must match [a-zA-Z_0-9+=,.@-]{2,64}"
)
MSG_DURATION_TOO_LONG: Final = (
    "Requested DurationSeconds exceeds MaxSessionDuration set for this role"
)


@dataclass(frozen=True)
class SamlProviderInfo:
    """An IAM SAML provider as STS sees it: its ARN, name, entityID and metadata keys."""

    arn: str
    name: str
    issuer_entity_id: str
    signing_certificates_pem: tuple[str, ...]


@dataclass(frozen=True)
class SamlClaims:
    """What a valid AssumeRoleWithSAML assertion establishes (values from signed content).

    ``audience`` is the SubjectConfirmationData Recipient, as AWS reports it.
    ``session_duration`` is the effective credential lifetime in seconds; the caller also
    ends the session at ``session_not_on_or_after`` when the assertion carries one.
    """

    subject: str
    subject_type: str
    issuer: str
    audience: str
    name_qualifier: str
    role_arn: str
    principal_arn: str
    role_session_name: str
    session_duration: int
    assertion_id: str
    not_on_or_after: datetime
    replay_guard_until: datetime
    session_not_on_or_after: datetime | None = None
    source_identity: str | None = None
    principal_tags: tuple[tuple[str, str], ...] = ()
    transitive_tag_keys: tuple[str, ...] = ()
    saml_context: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


def name_qualifier(issuer: str, account_id: str, provider_name: str) -> str:
    """Base64(SHA1(issuer + account + "/" + provider name)), the saml:namequalifier key."""
    # IAM User Guide, "Available keys for SAML-based federation", saml:namequalifier.
    digest = hashlib.sha1(f"{issuer}{account_id}/{provider_name}".encode(), usedforsecurity=False)
    return base64.b64encode(digest.digest()).decode("ascii")


def validate_saml_assertion(
    *,
    saml_assertion_b64: str,
    role_arn: str,
    principal_arn: str,
    provider: SamlProviderInfo,
    account_id: str,
    now: datetime,
    duration_seconds: int | None,
    trust_policy: Policy,
    role_max_session_duration: int = DEFAULT_DURATION,
    max_skew: timedelta = timedelta(minutes=5),
    accepted_recipients: Collection[str] = (),
    allow_sha1: bool = False,
) -> SamlClaims:
    """Check an AssumeRoleWithSAML request as STS does and return the session's claims.

    Args:
        saml_assertion_b64: the SAMLAssertion parameter (base64 samlp:Response).
        role_arn: the RoleArn parameter.
        principal_arn: the PrincipalArn parameter (must be ``provider.arn``).
        provider: the SAML provider the caller looked up by ``principal_arn``.
        account_id: the account owning role and provider.
        now: the instant to judge validity windows at.
        duration_seconds: the DurationSeconds parameter, None when absent.
        trust_policy: the role's trust policy.
        role_max_session_duration: the role's MaxSessionDuration in seconds.
        max_skew: clock skew tolerated on every time check (AWS documents none).
        accepted_recipients: Recipient URLs accepted besides the AWS sign-in endpoints
            (e.g. the emulator's own ``http://localhost:8000/aws/saml``).
        allow_sha1: accept RSA-SHA1/SHA-1 signatures (off: AWS documents no algorithm).

    Returns:
        The frozen SamlClaims; the caller refuses a replayed ``assertion_id``.

    Raises:
        AwsError: ValidationError, InvalidIdentityToken, ExpiredTokenException,
            IDPRejectedClaim or AccessDenied, with AWS's HTTP status and message.
        ValueError: ``principal_arn`` is not the provider's ARN (a caller bug).
    """
    if principal_arn != provider.arn:
        raise ValueError(f"expected the provider of {principal_arn!r}, got {provider.arn!r}")
    _check_parameters(saml_assertion_b64, duration_seconds, role_max_session_duration)
    root = _decode(saml_assertion_b64)
    try:
        return _validate(
            root,
            role_arn=role_arn,
            provider=provider,
            account_id=account_id,
            now=now,
            duration_seconds=duration_seconds,
            trust_policy=trust_policy,
            max_skew=max_skew,
            accepted_recipients=accepted_recipients,
            allow_sha1=allow_sha1,
        )
    except SamlError as exc:
        # A malformed value (a date, a repeated element) inside an otherwise valid document.
        raise _invalid(MSG_INVALID) from exc


def _validate(
    root: Element,
    *,
    role_arn: str,
    provider: SamlProviderInfo,
    account_id: str,
    now: datetime,
    duration_seconds: int | None,
    trust_policy: Policy,
    max_skew: timedelta,
    accepted_recipients: Collection[str],
    allow_sha1: bool,
) -> SamlClaims:
    assertion = _check_structure(root)
    # Refusing on an unverified Issuer is safe (it only rejects) and gives AWS's message for
    # a Response from another IdP, whose signature would not verify either.
    _check_issuers(root, assertion, provider)
    response_view, assertion_view = _verified_views(
        root, assertion, provider.signing_certificates_pem, allow_sha1
    )
    _check_issuers(response_view, assertion_view, provider)
    issuer = provider.issuer_entity_id
    _check_status(response_view)
    recipients = _accepted_recipients(accepted_recipients)
    destination = response_view.get("Destination")
    if destination is not None and not _recipient_ok(destination, recipients):
        # Not documented by AWS; saml-bindings §3.5.5.2: a Destination must be this endpoint.
        raise _invalid(MSG_INVALID)

    subject, subject_type = _subject(assertion_view)
    recipient, confirmation_end = _confirmation(assertion_view, recipients)
    conditions_end = _check_conditions(assertion_view, now, max_skew)
    ends = [confirmation_end] + ([conditions_end] if conditions_end is not None else [])
    if now >= min(ends) + max_skew:
        raise AwsError("ExpiredTokenException", MSG_EXPIRED, http_status=400)
    issued = parse_instant(assertion_view.get("IssueInstant", ""), what="Assertion IssueInstant")
    if now > issued + REDEEM_WINDOW + max_skew:
        raise AwsError("ExpiredTokenException", MSG_REDEEM, http_status=400)
    session_end = _session_not_on_or_after(assertion_view)
    if session_end is not None and now >= session_end + max_skew:
        raise AwsError("ExpiredTokenException", MSG_EXPIRED, http_status=400)

    attributes = _attributes(assertion_view)
    _check_role(attributes, role_arn, provider.arn)
    session_name = _role_session_name(attributes)
    session_attribute = _session_duration(attributes)
    source_identity = _source_identity(attributes)
    tags, transitive = _principal_tags(attributes)

    qualifier = name_qualifier(issuer, account_id, provider.name)
    saml_context = {
        "saml:aud": recipient,
        "saml:iss": issuer,
        "saml:sub": subject,
        "saml:sub_type": subject_type,
        "saml:namequalifier": qualifier,
        "saml:doc": f"{account_id}/{provider.name}",
    }
    _check_trust(
        trust_policy,
        role_arn=role_arn,
        provider_arn=provider.arn,
        account_id=account_id,
        saml_context=saml_context,
        source_identity=source_identity,
        tags=tags,
        transitive=transitive,
    )
    # AssumeRoleWithSAML API reference: DurationSeconds defaults to 3600; the
    # SessionDuration attribute sets the session when no DurationSeconds is passed.
    if duration_seconds is not None:
        effective = duration_seconds
    elif session_attribute is not None:
        effective = session_attribute
    else:
        effective = DEFAULT_DURATION
    return SamlClaims(
        subject=subject,
        subject_type=subject_type,
        issuer=issuer,
        audience=recipient,
        name_qualifier=qualifier,
        role_arn=role_arn,
        principal_arn=provider.arn,
        role_session_name=session_name,
        session_duration=effective,
        assertion_id=assertion_view.get("ID", ""),
        not_on_or_after=confirmation_end,
        replay_guard_until=max(ends) + max_skew,
        session_not_on_or_after=session_end,
        source_identity=source_identity,
        principal_tags=tags,
        transitive_tag_keys=transitive,
        saml_context=saml_context,
    )


def _invalid(message: str) -> AwsError:
    return AwsError("InvalidIdentityToken", message, http_status=400)


def _not_authorized() -> NoReturn:
    raise AwsError("AccessDenied", MSG_NOT_AUTHORIZED, http_status=403)


def _validation(value: object, member: str, constraint: str) -> AwsError:
    # The wording AWS's query services use for a modelled constraint violation.
    return AwsError(
        "ValidationError",
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
        f"constraint: {constraint}",
        http_status=400,
    )


def _check_parameters(
    assertion: str, duration_seconds: int | None, role_max_session_duration: int
) -> None:
    # botocore sts model: SAMLAssertionType length 4..100000, roleDurationSecondsType 900..43200.
    if len(assertion) < MIN_ASSERTION_CHARS:
        raise _validation(
            assertion, "sAMLAssertion", "Member must have length greater than or equal to 4"
        )
    if len(assertion) > MAX_ASSERTION_CHARS:
        raise _validation(
            "...", "sAMLAssertion", "Member must have length less than or equal to 100000"
        )
    if duration_seconds is None:
        return
    if duration_seconds < MIN_DURATION:
        raise _validation(
            duration_seconds,
            "durationSeconds",
            "Member must have value greater than or equal to 900",
        )
    if duration_seconds > MAX_DURATION:
        raise _validation(
            duration_seconds,
            "durationSeconds",
            "Member must have value less than or equal to 43200",
        )
    if duration_seconds > role_max_session_duration:
        raise AwsError("ValidationError", MSG_DURATION_TOO_LONG, http_status=400)


def _decode(assertion: str) -> Element:
    compact = "".join(assertion.split())
    try:
        xml = base64.b64decode(compact, validate=True)
        return parse_xml(xml, max_bytes=MAX_ASSERTION_CHARS)
    except (binascii.Error, ValueError, SamlError) as exc:
        raise _invalid(MSG_INVALID) from exc


def _check_structure(root: Element) -> Element:
    if namespace_of(root) != SAMLP or localname(root) != "Response":
        raise _invalid(MSG_INVALID)
    if root.get("Version") != "2.0":
        raise _invalid(MSG_INVALID)
    if list(root.iter(qn(SAML, "EncryptedAssertion"))):
        # AWS can decrypt with a provider's private key; the emulator has none.
        raise _invalid(MSG_INVALID)
    assertions = list(root.iter(qn(SAML, "Assertion")))
    if len(assertions) != 1:
        # Zero, or a second (wrapped or appended) Assertion: signature wrapping territory.
        raise _invalid(MSG_INVALID)
    assertion = assertions[0]
    if assertion.getparent() is not root:
        raise AwsError("InvalidIdentityToken", MSG_SIGNATURE, http_status=400)
    for signature in root.iter(qn(DS, "Signature")):
        if signature.getparent() not in (root, assertion):
            raise AwsError("InvalidIdentityToken", MSG_SIGNATURE, http_status=400)
    return assertion


def _check_issuers(response: Element, assertion: Element, provider: SamlProviderInfo) -> None:
    issuers = children(assertion, SAML, "Issuer")
    if len(issuers) != 1 or element_text(issuers[0]).strip() != provider.issuer_entity_id:
        raise _invalid(MSG_ISSUER)
    for node in children(response, SAML, "Issuer"):
        if element_text(node).strip() != provider.issuer_entity_id:
            raise _invalid(MSG_ISSUER)


def _verified_views(
    root: Element, assertion: Element, trusted: Sequence[str], allow_sha1: bool
) -> tuple[Element, Element]:
    """Return (response, assertion) read from signed bytes; every signature must verify."""
    # "Configuring SAML assertions": AWS checks the signature with the provider metadata's
    # keys. Which element is signed is not documented: either is accepted, but a signature
    # that does not verify is never skipped in favour of the other one (strict reading).
    response_sig = _verify(root, trusted, allow_sha1)
    assertion_sig = _verify(assertion, trusted, allow_sha1)
    if response_sig is None and assertion_sig is None:
        raise _invalid(MSG_SIGNATURE)
    response_view = root
    assertion_view = assertion
    if response_sig is not None:
        response_view = _reparse(response_sig.signed_xml)
        inner = children(response_view, SAML, "Assertion")
        if len(inner) != 1:
            raise _invalid(MSG_SIGNATURE)
        assertion_view = inner[0]
    if assertion_sig is not None:
        assertion_view = _reparse(assertion_sig.signed_xml)
    return response_view, assertion_view


def _verify(element: Element, trusted: Sequence[str], allow_sha1: bool) -> VerifiedSignature | None:
    if not children(element, DS, "Signature"):
        return None
    try:
        return verify_element(element, trusted_certificates=trusted, allow_sha1=allow_sha1)
    except SamlError as exc:
        raise _invalid(MSG_SIGNATURE) from exc


def _reparse(signed_xml: bytes) -> Element:
    return parse_xml(signed_xml, max_bytes=len(signed_xml) + 1)


def _check_status(response: Element) -> None:
    statuses = children(response, SAMLP, "Status")
    codes = [c.get("Value") for s in statuses[:1] for c in children(s, SAMLP, "StatusCode")]
    if codes[:1] != [STATUS_SUCCESS]:
        raise _invalid(MSG_INVALID)


def _accepted_recipients(extra: Collection[str]) -> frozenset[str]:
    return frozenset({GLOBAL_SIGNIN, *extra})


def _recipient_ok(recipient: str, accepted: frozenset[str]) -> bool:
    # "Configuring SAML assertions": Recipient is the sign-in endpoint, global or regional.
    return recipient in accepted or _REGIONAL_SIGNIN.fullmatch(recipient) is not None


def _subject(assertion: Element) -> tuple[str, str]:
    subjects = children(assertion, SAML, "Subject")
    name_ids = children(subjects[0], SAML, "NameID") if len(subjects) == 1 else []
    if len(name_ids) != 1:
        # Missing Subject/NameID: AWS answers 403 AccessDenied.
        _not_authorized()
    subject = element_text(name_ids[0]).strip()
    if not subject:
        _not_authorized()
    name_format = name_ids[0].get("Format") or NAMEID_UNSPECIFIED
    subject_type = name_format.removeprefix(NAMEID_FORMAT_PREFIX)
    return subject, subject_type


def _confirmation(assertion: Element, accepted: frozenset[str]) -> tuple[str, datetime]:
    subject = children(assertion, SAML, "Subject")[0]
    confirmations = children(subject, SAML, "SubjectConfirmation")
    # "Configuring SAML assertions": exactly one SubjectConfirmation, bearer, whose
    # SubjectConfirmationData carries NotOnOrAfter and Recipient.
    if len(confirmations) != 1 or confirmations[0].get("Method") != BEARER:
        raise _invalid(MSG_INVALID)
    data = children(confirmations[0], SAML, "SubjectConfirmationData")
    if len(data) != 1:
        raise _invalid(MSG_INVALID)
    recipient = data[0].get("Recipient")
    limit = data[0].get("NotOnOrAfter")
    if recipient is None or limit is None:
        raise _invalid(MSG_INVALID)
    if not _recipient_ok(recipient, accepted):
        # AWS documents no message for a foreign Recipient; it is not its endpoint.
        raise _invalid(MSG_INVALID)
    return recipient, parse_instant(limit, what="SubjectConfirmationData NotOnOrAfter")


def _check_conditions(assertion: Element, now: datetime, skew: timedelta) -> datetime | None:
    conditions = children(assertion, SAML, "Conditions")
    if len(conditions) != 1:
        raise _invalid(MSG_INVALID)
    node = conditions[0]
    not_before = node.get("NotBefore")
    if not_before is not None:
        start = parse_instant(not_before, what="Conditions NotBefore")
        if now + skew < start:
            # Not documented by AWS: a not-yet-valid assertion is refused as invalid.
            raise _invalid(MSG_INVALID)
    restrictions = children(node, SAML, "AudienceRestriction")
    if not restrictions:
        raise _invalid(MSG_AUDIENCE)
    # saml-core §2.5.1.4: every AudienceRestriction must be satisfied on its own.
    for restriction in restrictions:
        listed = {element_text(a).strip() for a in children(restriction, SAML, "Audience")}
        if not listed & ACCEPTED_AUDIENCES:
            raise _invalid(MSG_AUDIENCE)
    end = node.get("NotOnOrAfter")
    return None if end is None else parse_instant(end, what="Conditions NotOnOrAfter")


def _session_not_on_or_after(assertion: Element) -> datetime | None:
    ends = [
        parse_instant(value, what="SessionNotOnOrAfter")
        for statement in children(assertion, SAML, "AuthnStatement")
        if (value := statement.get("SessionNotOnOrAfter")) is not None
    ]
    return min(ends) if ends else None


def _attributes(assertion: Element) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for statement in children(assertion, SAML, "AttributeStatement"):
        for attribute in children(statement, SAML, "Attribute"):
            # Attribute Names are case-sensitive ("Configuring SAML assertions").
            values = found.setdefault(attribute.get("Name", ""), [])
            values.extend(
                element_text(v).strip() for v in children(attribute, SAML, "AttributeValue")
            )
    return found


def _check_role(attributes: dict[str, list[str]], role_arn: str, provider_arn: str) -> None:
    values = attributes.get(ATTR_ROLE)
    if not values:
        raise _invalid(MSG_INVALID)
    pairs: set[tuple[str, str]] = set()
    for value in values:
        parts = [p.strip() for p in value.split(",")]
        if len(parts) != 2:
            raise _invalid(MSG_INVALID)
        # Either order: AWS's examples put the role first, common clients accept both.
        roles = [p for p in parts if _ROLE_ARN.fullmatch(p)]
        providers = [p for p in parts if _PROVIDER_ARN.fullmatch(p)]
        if len(roles) != 1 or len(providers) != 1:
            raise _invalid(MSG_INVALID)
        pairs.add((roles[0], providers[0]))
    if (role_arn, provider_arn) not in pairs:
        # The documented error for a claim that does not grant the request:
        # IDPRejectedClaim 403 (AssumeRoleWithSAML API reference, Errors).
        raise AwsError(
            "IDPRejectedClaim",
            "The SAML assertion's Role attribute does not grant the requested role and provider",
            http_status=403,
        )


def _single(attributes: dict[str, list[str]], name: str, missing: str, invalid: str) -> str | None:
    values = attributes.get(name)
    if values is None:
        if missing:
            _raise_invalid(missing)
        return None
    if len(values) != 1:
        _raise_invalid(invalid)
    return values[0]


def _raise_invalid(message: str) -> NoReturn:
    raise _invalid(message)


def _role_session_name(attributes: dict[str, list[str]]) -> str:
    value = _single(
        attributes, ATTR_ROLE_SESSION_NAME, MSG_SESSION_NAME_MISSING, MSG_SESSION_NAME_INVALID
    )
    if value is None or not _SESSION_NAME.fullmatch(value):
        raise _invalid(MSG_SESSION_NAME_INVALID)
    return value


def _session_duration(attributes: dict[str, list[str]]) -> int | None:
    message = "SessionDuration in AuthnResponse must be an integer between 900 and 43200"
    value = _single(attributes, ATTR_SESSION_DURATION, "", message)
    if value is None:
        return None
    if not value.isdigit() or not MIN_DURATION <= int(value) <= MAX_DURATION:
        raise _invalid(message)
    return int(value)


def _source_identity(attributes: dict[str, list[str]]) -> str | None:
    message = (
        "SourceIdentity in AuthnResponse must match [a-zA-Z_0-9+=,.@-]{2,64} "
        "and must not start with aws:"
    )
    value = _single(attributes, ATTR_SOURCE_IDENTITY, "", message)
    if value is None:
        return None
    if not _SESSION_NAME.fullmatch(value) or value.lower().startswith("aws:"):
        raise _invalid(message)
    return value


def _principal_tags(
    attributes: dict[str, list[str]],
) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    tags: list[tuple[str, str]] = []
    for name, values in attributes.items():
        if not name.startswith(ATTR_PRINCIPAL_TAG):
            continue
        key = name.removeprefix(ATTR_PRINCIPAL_TAG)
        if not _TAG_KEY.fullmatch(key) or len(values) != 1 or len(values[0]) > 256:
            raise _invalid(MSG_INVALID)
        tags.append((key, values[0]))
    if len(tags) > MAX_TAGS:
        raise _invalid(MSG_INVALID)
    transitive = tuple(attributes.get(ATTR_TRANSITIVE_TAG_KEYS, ()))
    keys = {k.lower() for k, _ in tags}
    if any(k.lower() not in keys for k in transitive):
        raise _invalid(MSG_INVALID)
    return tuple(tags), transitive


def _check_trust(
    trust_policy: Policy,
    *,
    role_arn: str,
    provider_arn: str,
    account_id: str,
    saml_context: dict[str, str],
    source_identity: str | None,
    tags: tuple[tuple[str, str], ...],
    transitive: tuple[str, ...],
) -> None:
    context: dict[str, object] = dict(saml_context)
    if tags:
        context["aws:TagKeys"] = [k for k, _ in tags]
        for key, value in tags:
            context[f"aws:RequestTag/{key}"] = value
    if source_identity is not None:
        context["sts:SourceIdentity"] = source_identity
    request = Request(
        action=ACTION,
        resource=role_arn,
        context=RequestContext.from_mapping(context),
        principal=provider_arn,
        principal_account=account_id,
    )
    actions = [ACTION]
    # "Configuring SAML assertions": tags need sts:TagSession, a source identity needs
    # sts:SetSourceIdentity, both in the same trust policy.
    if tags or transitive:
        actions.append("sts:TagSession")
    if source_identity is not None:
        actions.append("sts:SetSourceIdentity")
    for action in actions:
        decision = evaluate_trust(
            trust_policy=trust_policy, request=request._replace(action=action)
        )
        if not decision.allowed:
            _not_authorized()


__all__ = [
    "ACCEPTED_AUDIENCES",
    "SamlClaims",
    "SamlProviderInfo",
    "name_qualifier",
    "validate_saml_assertion",
]
