"""Who signed an emulated AWS request: SigV4 checked against a key the emulator issued.

Shared by every service ("Signature Version 4 signing process"); each service's protocol
decides the error codes (query: InvalidClientTokenId, rest-json: UnrecognizedClientException).
"""

from __future__ import annotations

import logging
from functools import lru_cache

import botocore.session

from sekisho.crypto import CryptoError
from sekisho.emulator import accounts, iam
from sekisho.emulator.protocol.http import AwsHttpRequest
from sekisho.emulator.protocol.sigv4 import (
    expired_token_error,
    parse_authorization,
    unknown_access_key_error,
    verify_sigv4,
)

logger = logging.getLogger(__name__)

# The wire protocol of every service routed here (botocore's metadata "protocol").
PROTOCOLS = {"iam": "query", "sts": "query", "connect": "rest-json"}
# IAM is a global service of the aws partition, signed for us-east-1 ("Signature Version 4
# signing process": the credential scope names the region the request is sent to, and
# IAM's one endpoint is in us-east-1).
GLOBAL_SIGNING_REGIONS = {"iam": "us-east-1"}


@lru_cache(maxsize=8)
def signing_regions(service: str) -> frozenset[str]:
    """The regions whose credential scope the emulator accepts for ``service``.

    IAM: us-east-1 only. STS and Connect: the aws partition's regions where botocore's
    endpoint data says the service exists (the emulator answers for each of them; a
    regional endpoint of a region without the service does not exist at all).
    """
    if service in GLOBAL_SIGNING_REGIONS:
        return frozenset({GLOBAL_SIGNING_REGIONS[service]})
    return frozenset(botocore.session.get_session().get_available_regions(service))


def authenticate(req: AwsHttpRequest, *, service: str) -> iam.Caller:
    """Check a signed request's SigV4 against the stored key and name its caller.

    Raises:
        AwsError: ``InvalidClientTokenId`` (or the protocol's equivalent) for an unknown key
            or a wrong session token, ``ExpiredToken`` for an expired session, or any SigV4
            failure.
    """
    protocol = PROTOCOLS[service]
    credential = parse_authorization(req, protocol=protocol)
    key = accounts.find_access_key(credential.access_key_id)
    if key is None or not accounts.session_token_matches(key, credential.security_token):
        raise unknown_access_key_error(protocol)
    now = iam.now()
    if accounts.is_expired(key, now):
        raise expired_token_error(protocol)
    try:
        secret = accounts.secret_of(key)
    except CryptoError:
        # A row sealed under another master key: unusable, as if it did not exist.
        logger.warning("access key %s does not open under this master key", key.access_key_id)
        raise unknown_access_key_error(protocol) from None
    verify_sigv4(
        req,
        secret_access_key=secret,
        now=now,
        protocol=protocol,
        expected_service=service,
        expected_region=signing_regions(service),
    )
    return iam.caller_of(key)


def is_signed(req: AwsHttpRequest) -> bool:
    """Whether the request carries a SigV4 signature (header or presigned query)."""
    return "authorization" in req.headers or "X-Amz-Signature=" in req.query_string
