"""Measure SAML Response signing on one core: the RSA limit, Sekisho, and pysaml2.

Run: .venv/bin/python bench/bench_sign.py

(a) raw RSA-2048 PKCS#1 v1.5 SHA-256 signatures per second with ``cryptography``: the
    physical limit, since every Response costs at least one such signature;
(b) Sekisho building, signing and serializing the Amazon Connect Response in process
    (app + user -> AssertionSpec -> signed XML -> base64), per second;
(c) pysaml2's ``Server.create_authn_response`` with a signed assertion (it runs the
    xmlsec1 program once per message), per second.
Goals: b >= 50% of a, b >= 40x c.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ROUNDS = 5
ROUND_SECONDS = 1.0
PYSAML2_CALLS_PER_ROUND = 15

AWS_ACS = "https://signin.aws.amazon.com/saml"
SP_METADATA = f"""<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
 entityID="urn:amazon:webservices"><md:SPSSODescriptor WantAssertionsSigned="true"
 protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
 Location="{AWS_ACS}" index="1" isDefault="true"/></md:SPSSODescriptor></md:EntityDescriptor>"""


def rate(operation: Callable[[], object], *, seconds: float = ROUND_SECONDS) -> float:
    """Calls per second of ``operation`` over about ``seconds``."""
    operation()
    calls = 0
    start = time.perf_counter()
    while True:
        for _ in range(20):
            operation()
        calls += 20
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return calls / elapsed


def rate_of_calls(operation: Callable[[], object], calls: int) -> float:
    """Calls per second of ``operation`` over exactly ``calls`` calls."""
    start = time.perf_counter()
    for _ in range(calls):
        operation()
    return calls / (time.perf_counter() - start)


def raw_rsa() -> Callable[[], object]:
    """(a): one RSA-2048 PKCS#1 v1.5 SHA-256 signature over SignedInfo-sized data."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    from tests.saml import factory

    key = factory.idp_key().private_key
    data = b"<ds:SignedInfo>" + b"x" * 600 + b"</ds:SignedInfo>"
    return lambda: key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def sekisho() -> Callable[[], object]:
    """(b): the Amazon Connect launch, from app definition to the POST form value."""
    from sekisho.clock import SYSTEM_RANDOM
    from sekisho.saml.core.presets import assertion_spec_for
    from sekisho.saml.core.response import build_response, encode_post
    from tests.saml import factory

    app = factory.connect_app()
    user = factory.alice()
    key = factory.idp_key()

    def launch() -> str:
        now = factory.NOW
        spec = assertion_spec_for(
            app,
            user=user,
            issuer=factory.IDP_ENTITY_ID,
            authn_instant=now,
            session_index=SYSTEM_RANDOM.new_id(),
            mfa_used=True,
        )
        return encode_post(build_response(spec, key=key, now=now, new_id=SYSTEM_RANDOM.new_id))

    return launch


def pysaml2(folder: Path) -> Callable[[], object]:
    """(c): pysaml2's IdP building the same Response, signing through xmlsec1."""
    with warnings.catch_warnings():
        # pysaml2 imports a cipher mode cryptography has deprecated; not ours to fix.
        warnings.simplefilter("ignore")
        from saml2 import BINDING_HTTP_REDIRECT
        from saml2.authn_context import PASSWORDPROTECTEDTRANSPORT
        from saml2.config import IdPConfig
        from saml2.saml import NAME_FORMAT_URI, NAMEID_FORMAT_UNSPECIFIED, NameID
        from saml2.server import Server

    from tests.saml import factory

    key = factory.idp_key()
    (folder / "idp.key").write_text(key.private_key_pem)
    (folder / "idp.crt").write_text(key.certificate_pem)
    config = IdPConfig()
    config.load(
        {
            "entityid": factory.IDP_ENTITY_ID,
            "service": {
                "idp": {
                    "endpoints": {
                        "single_sign_on_service": [
                            ("https://idp.sekisho.test/saml/sso", BINDING_HTTP_REDIRECT)
                        ]
                    },
                    "policy": {
                        "default": {
                            "lifetime": {"minutes": 5},
                            "attribute_restrictions": None,
                            "name_form": NAME_FORMAT_URI,
                        }
                    },
                    "name_id_format": [NAMEID_FORMAT_UNSPECIFIED],
                }
            },
            "key_file": str(folder / "idp.key"),
            "cert_file": str(folder / "idp.crt"),
            "xmlsec_binary": "/usr/bin/xmlsec1",
            "metadata": {"inline": [SP_METADATA]},
        }
    )
    server = Server(config=config)
    identity = {
        "https://aws.amazon.com/SAML/Attributes/Role": [
            "arn:aws:iam::123456789012:role/ConnectAgent,"
            "arn:aws:iam::123456789012:saml-provider/Sekisho"
        ],
        "https://aws.amazon.com/SAML/Attributes/RoleSessionName": ["alice"],
        "https://aws.amazon.com/SAML/Attributes/SessionDuration": ["3600"],
    }

    def launch() -> object:
        return server.create_authn_response(
            identity=identity,
            in_response_to=None,
            destination=AWS_ACS,
            sp_entity_id="urn:amazon:webservices",
            name_id=NameID(format=NAMEID_FORMAT_UNSPECIFIED, text="alice"),
            authn={"class_ref": PASSWORDPROTECTEDTRANSPORT, "authn_instant": int(time.time())},
            sign_assertion=True,
            sign_response=False,
            sign_alg="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            digest_alg="http://www.w3.org/2001/04/xmlenc#sha256",
        )

    return launch


def main() -> None:
    """Run every measurement ROUNDS times, interleaved, and print medians and ratios."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    with tempfile.TemporaryDirectory(prefix="sekisho-bench-") as folder:
        a_op, b_op = raw_rsa(), sekisho()
        c_op = pysaml2(Path(folder))
        c_op()
        a_rates: list[float] = []
        b_rates: list[float] = []
        c_rates: list[float] = []
        for round_number in range(1, ROUNDS + 1):
            a_rates.append(rate(a_op))
            b_rates.append(rate(b_op))
            c_rates.append(rate_of_calls(c_op, PYSAML2_CALLS_PER_ROUND))
            print(
                f"round {round_number}: a={a_rates[-1]:8.0f}/s  b={b_rates[-1]:8.0f}/s  "
                f"c={c_rates[-1]:6.1f}/s",
                flush=True,
            )
    a = statistics.median(a_rates)
    b = statistics.median(b_rates)
    c = statistics.median(c_rates)
    print(f"(a) raw RSA-2048 PKCS#1 v1.5 SHA-256 (cryptography): {a:8.0f} signatures/s")
    print(f"(b) Sekisho Amazon Connect Response, in process:      {b:8.0f} responses/s")
    print(f"(c) pysaml2 create_authn_response + xmlsec1:          {c:8.1f} responses/s")
    print(f"b/a = {b / a:.0%}  (goal >= 50%)")
    print(f"b/c = {b / c:.0f}x  (goal >= 40x)")


if __name__ == "__main__":
    main()
