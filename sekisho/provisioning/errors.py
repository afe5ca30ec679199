"""Errors of the provisioning context: every AWS failure as one plain sentence."""

from __future__ import annotations

from typing import Any

from sekisho.errors import SekishoError


class ProvisioningError(SekishoError):
    """Root of the provisioning context's errors (bad arguments, a state that cannot work)."""

    code = "provisioning_error"


class AwsCallFailed(ProvisioningError):
    """An AWS call failed; the message says what AWS refused and why, on one line."""

    code = "aws_call_failed"

    def __init__(self, message: str, *, aws_code: str = "") -> None:
        super().__init__(message)
        self.aws_code = aws_code


# botocore ClientError codes, in plain words. Each sentence names what to do next; AWS's
# own message follows it where it says which entity or value was at fault.
_SENTENCES: dict[str, tuple[str, bool]] = {
    "AccessDenied": ("these credentials are not allowed to call it", True),
    "AccessDeniedException": ("these credentials are not allowed to call it", True),
    "UnauthorizedOperation": ("these credentials are not allowed to call it", True),
    "InvalidClientTokenId": (
        "AWS does not know this access key (wrong key, or another endpoint's)",
        False,
    ),
    "UnrecognizedClientException": (
        "AWS does not know this access key (wrong key, or another endpoint's)",
        False,
    ),
    "SignatureDoesNotMatch": (
        "AWS refused the signature: the secret key does not belong to the key id, the "
        "clock is off, or the request was signed for another region",
        True,
    ),
    "InvalidSignatureException": (
        "AWS refused the signature: the secret key does not belong to the key id, the "
        "clock is off, or the request was signed for another region",
        True,
    ),
    "IncompleteSignature": ("the request's signature is incomplete", True),
    "MissingAuthenticationToken": ("the request was not signed", False),
    "ExpiredToken": ("the session credentials have expired: get new ones", False),
    "ExpiredTokenException": ("the session credentials have expired: get new ones", False),
    "RequestExpired": ("the request expired: check this machine's clock", False),
    "NoSuchEntity": ("IAM has no such entity", True),
    "EntityAlreadyExists": ("it already exists", True),
    "DeleteConflict": ("it is still in use", True),
    "LimitExceeded": ("an IAM quota was reached", True),
    "ServiceQuotaExceededException": ("an Amazon Connect quota was reached", True),
    "MalformedPolicyDocument": ("IAM refused the policy document", True),
    "MalformedCertificate": ("IAM refused a certificate in the SAML metadata", True),
    "InvalidInput": ("IAM refused the input", True),
    "ValidationError": ("AWS refused the input", True),
    "ResourceNotFoundException": (
        "Amazon Connect found no such resource (check the instance and the region)",
        True,
    ),
    "UserNotFoundException": ("Amazon Connect has no such user", True),
    "DuplicateResourceException": ("Amazon Connect already has it", True),
    "InvalidRequestException": ("Amazon Connect refused the request", True),
    "InvalidParameterException": ("Amazon Connect refused a parameter", True),
    "Throttling": ("AWS is throttling these calls: wait, then run the command again", False),
    "ThrottlingException": (
        "AWS is throttling these calls: wait, then run the command again",
        False,
    ),
    "TooManyRequestsException": (
        "AWS is throttling these calls: wait, then run the command again",
        False,
    ),
    "ServiceFailure": ("AWS failed internally: run the command again", False),
    "InternalServiceException": ("AWS failed internally: run the command again", False),
    "InternalFailure": ("AWS failed internally: run the command again", False),
    "RegionDisabledException": ("STS is not activated in this region for the account", False),
    "OptInRequired": ("the account has not opted in to this region", False),
}


def _one_line(text: str) -> str:
    return " ".join(text.split())


def explain_client_error(operation: str, exc: Any) -> AwsCallFailed:
    """One sentence for a botocore ``ClientError`` of ``operation`` (code + message if unknown)."""
    error = exc.response.get("Error", {}) if hasattr(exc, "response") else {}
    code = str(error.get("Code") or "Unknown")
    message = _one_line(str(error.get("Message") or ""))
    known = _SENTENCES.get(code)
    if known is None:
        text = f"{operation} failed: AWS answered {code}: {message or '(no message)'}"
    else:
        sentence, with_message = known
        text = f"{operation} failed: {sentence}"
        if with_message and message:
            text += f" (AWS: {message})"
    return AwsCallFailed(text, aws_code=code)


def explain_botocore_error(operation: str, exc: Exception) -> AwsCallFailed:
    """One sentence for botocore's own failures (credentials, endpoint, region, params)."""
    name = type(exc).__name__
    detail = _one_line(str(exc))
    sentences = {
        "NoCredentialsError": (
            "no AWS credentials found: use --profile, or set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (boto3's standard credential chain)"
        ),
        "PartialCredentialsError": f"the AWS credentials are incomplete ({detail})",
        "ProfileNotFound": detail,
        "NoRegionError": "no AWS region: use --region or set AWS_DEFAULT_REGION",
        "EndpointConnectionError": f"cannot reach AWS: {detail}",
        "ConnectTimeoutError": f"cannot reach AWS: {detail}",
        "ReadTimeoutError": f"AWS did not answer in time: {detail}",
        "SSOTokenLoadError": "the SSO session is missing or expired: run 'aws sso login'",
        "UnauthorizedSSOTokenError": "the SSO session has expired: run 'aws sso login'",
        "TokenRetrievalError": f"cannot get a token for these credentials ({detail})",
        "ParamValidationError": f"a value is not what AWS accepts ({detail})",
        "InvalidEndpointConfigurationError": detail,
    }
    sentence = sentences.get(name, f"{name}: {detail}")
    return AwsCallFailed(f"{operation} failed: {sentence}", aws_code=name)
